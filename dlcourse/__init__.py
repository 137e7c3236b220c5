"""dlcourse: the package the course notebooks import.

Modules (import the ones you need; importing ``dlcourse`` itself loads nothing heavy, not torch):

- ``dlcourse.config``: settings read from the environment (data root, grading mode, device).
- ``dlcourse.data``: reference data generators (``Random2DGaussian``, ``sample_gauss_2d``, ...).
- ``dlcourse.metrics``: reference evaluation metrics (``eval_perf_binary``, ``eval_AP``, ...).
- ``dlcourse.plot``: matplotlib helpers (``graph_data``, ``graph_surface``).
- ``dlcourse.rnn``: a vanilla RNN in NumPy with backpropagation through time (Lab 3's reference).
- ``dlcourse.sentiment``: SST sentiment classifiers, their training and evaluation (Lab 3).
- ``dlcourse.check``: gradient checks and the ``Report`` that graded test cells return.
- ``dlcourse.tasks``: the per-lab check functions used by the graded test cells.
"""

__all__: list[str] = []
