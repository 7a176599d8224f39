"""Fast PNG frames from a matplotlib figure: blit the changing artists, encode with PIL."""
from __future__ import annotations

import io
from typing import Any, Hashable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image as PILImage


class Blitter:
    """Render frames of ``fig`` where only some artists change (blitting).

    The first frame draws everything except the animated artists and caches that
    background; every later frame restores it and draws only the given artists,
    about a third of the cost of a full draw. A new ``key`` (e.g. changed axis
    limits) redraws the background. The figure is rendered with Agg whatever the
    notebook's backend is.

    ``palette``: True quantises every frame to an adaptive palette of 256 colours
    (octree), False keeps RGB, and a pair ``(lookup, saved)`` maps every pixel to the
    nearest colour of the fixed palette image ``lookup`` and saves the palette
    ``saved`` with the PNG (for frames whose colours are known, such as a grey photo,
    where an adaptive palette keeps too few greys and shows bands).
    """

    def __init__(self, fig: Any, animated: Sequence[Any] = (), *,
                 palette: bool | tuple[Any, list[int]] = True):
        self.fig = fig
        FigureCanvasAgg(fig)
        self.animated = list(animated)
        for artist in self.animated:
            artist.set_animated(True)     # kept out of the cached background
        self.palette = palette
        self._background: tuple[Hashable, Any] | None = None

    def png(self, artists: Sequence[Any], key: Hashable = None) -> bytes:
        """Draw ``artists`` over the cached background; return the PNG bytes."""
        canvas = self.fig.canvas
        if self._background is None or self._background[0] != key:
            # Axes draw animated *images* anyway (they are composited): hide them all.
            shown = [a for a in self.animated if a.get_visible()]
            for artist in shown:
                artist.set_visible(False)
            canvas.draw()
            for artist in shown:
                artist.set_visible(True)
            self._background = (key, canvas.copy_from_bbox(self.fig.bbox))
        else:
            canvas.restore_region(self._background[1])
        for artist in artists:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        img = PILImage.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
        if self.palette is True:
            # 256 colours hold flat fills and line colours exactly; only antialiased
            # edges are rounded. PNGs three times smaller.
            img = img.quantize(256, method=PILImage.Quantize.FASTOCTREE)
        elif self.palette:
            lookup, saved = self.palette
            img = img.quantize(palette=lookup, dither=PILImage.Dither.NONE)
            img.putpalette(saved)
        buf = io.BytesIO()
        img.save(buf, format="png")
        return buf.getvalue()
