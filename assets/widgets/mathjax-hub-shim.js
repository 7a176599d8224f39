/*
 * Part of the course's own site files (not vendored).
 *
 * The ipywidgets HTML manager (embed.js) typesets widget labels with the MathJax 2 API,
 * MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The site serves MathJax 3, which has no Hub:
 * every widget with a description then throws "Cannot read properties of undefined (reading 'Queue')"
 * and math in a label stays raw. This shim gives whichever object is window.MathJax (the
 * configuration object first, then MathJax 3 itself, which replaces it when it loads) a small Hub
 * whose Queue hands the element to MathJax 3's typesetPromise once MathJax has started.
 * It must be loaded before embed.js (see nb_ipywidgets_js in _config.yml).
 */
(function () {
  "use strict";

  function typeset(element) {
    var mathjax = window.MathJax;
    if (!mathjax || !mathjax.startup || !mathjax.startup.promise || !mathjax.typesetPromise) {
      return false;
    }
    mathjax.startup.promise
      .then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      })
      .catch(function (error) {
        console.warn("MathJax could not typeset a widget label:", error);
      });
    return true;
  }

  var hub = {
    Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : undefined;
      if (!typeset(element)) {
        // MathJax 3 has not been evaluated yet: it is loaded with "defer", so it has by then.
        document.addEventListener("DOMContentLoaded", function () {
          typeset(element);
        });
      }
    },
  };

  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      // Not enumerable, so that MathJax 3 does not read it as a configuration option.
      Object.defineProperty(value, "Hub", {
        value: hub,
        enumerable: false,
        configurable: true,
        writable: true,
      });
    }
    return value;
  }

  var current = withHub(window.MathJax);
  try {
    Object.defineProperty(window, "MathJax", {
      configurable: true,
      enumerable: true,
      get: function () {
        return current;
      },
      set: function (value) {
        current = withHub(value);
      },
    });
  } catch (error) {
    // window.MathJax cannot be redefined: labels stay untypeset, the widgets still work.
  }
})();
