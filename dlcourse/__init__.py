"""dlcourse: the package the course notebooks import.

Modules (import the ones you need; importing ``dlcourse`` itself loads nothing heavy, not torch):

- ``dlcourse.config``: settings read from the environment (data root, grading mode, device).
- ``dlcourse.data``: the labs' data (Gaussian mixtures, MNIST, SST, CIFAR-10).
- ``dlcourse.plot``: matplotlib helpers (``graph_data``, ``graph_surface``).
- ``dlcourse.rnn``: Lab 3's given RNN output layer (``rnn_logits``) and gradient keys.
- ``dlcourse.sentiment``: the interface of Lab 3's sentiment classifiers (``CELLS``, ``Batch``).
- ``dlcourse.check``: gradient checks and the ``Report`` that graded test cells return.
- ``dlcourse.tasks``: the per-lab check functions used by the graded test cells.
"""

__all__: list[str] = []
