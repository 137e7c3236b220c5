"""dlcourse: the package the course notebooks import.

Modules (import the ones you need; importing ``dlcourse`` itself loads nothing heavy, not torch):

- ``dlcourse.config``: settings read from the environment (data root, grading mode, device).
- ``dlcourse.data``: the labs' data (``gaussian``: Gaussian mixtures, ``onehot``, ``mnist``,
  ``cifar``, ``sst`` with GloVe), downloaded or read under the data root, else the bundled copy.
- ``dlcourse.plot``: matplotlib helpers (``graph_data``, ``graph_surface``).
- ``dlcourse.layers`` and ``dlcourse.net``: Lab 2's given numpy layers (the course's contract
  ``forward``/``backward_inputs``/``backward_params``) and the runner of networks of them.
- ``dlcourse.convnets``: Lab 2's data preparation, numpy network and training plot.
- ``dlcourse.rnn``, ``dlcourse.sentiment``: Lab 3's given RNN output layer and the interface of
  its sentiment classifiers.
- ``dlcourse.embeddings``: Lab 4's schedule, training epoch, class means, retrieval, plots.
- ``dlcourse.check``: comparisons with autograd and their messages, the ``Report`` graded test
  cells return, ``rel_error`` and ``numerical_gradient``.
- ``dlcourse.tasks``: the per-lab checks of the graded test cells and the labs' points.
- ``dlcourse.reference``: how checks reach the instructors' references, or, in the student
  handout, the control outputs recorded from them.
- ``dlcourse.validate``: ``python -m dlcourse.validate lab0.ipynb``, the check before submitting.
"""

__all__: list[str] = []
