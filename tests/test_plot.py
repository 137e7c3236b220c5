"""dlcourse.plot on the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from dlcourse.plot import graph_data, graph_surface  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def marker_of(collection):
    """'o' or 's': the marker path of a scatter collection (squares have 4 corners + close)."""
    path = collection.get_paths()[0]
    return "s" if len(path.vertices) == 5 else "o"


def test_graph_surface_draws_mesh_centred_on_offset_and_contour(ax, tmp_path):
    def fn(G):
        return 1 / (1 + np.exp(-(G[:, 0] - G[:, 1])))  # boundary on the diagonal

    out = graph_surface(fn, ((-1, -2), (3, 2)), offset=0.5, width=40, height=30, ax=ax)
    assert out is ax
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1
    assert meshes[0].get_array().size == 40 * 30
    vmin, vmax = meshes[0].get_clim()
    assert (vmin + vmax) / 2 == pytest.approx(0.5)
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 1 and list(contours[0].levels) == [0.5]
    segments = contours[0].allsegs[0]
    points = np.concatenate(segments)
    np.testing.assert_allclose(points[:, 0], points[:, 1], atol=0.2)  # on the diagonal
    ax.figure.savefig(tmp_path / "surface.png")


def test_graph_surface_grid_covers_rect(ax):
    seen = []
    graph_surface(
        lambda G: seen.append(G) or G[:, 0], ((-1, 5), (3, 6)), offset=0, width=7, height=4, ax=ax
    )
    (G,) = seen
    assert G.shape == (28, 2)
    np.testing.assert_allclose(G.min(axis=0), [-1, 5])
    np.testing.assert_allclose(G.max(axis=0), [3, 6])


@pytest.mark.parametrize("C", [2, 3])
def test_graph_data_marks_wrong_points_with_squares(ax, C, tmp_path):
    rng = np.random.default_rng(C)
    X = rng.normal(size=(12, 2))
    Y_ = np.arange(12) % C
    Y = Y_.copy()
    wrong = [1, 4, 7]
    Y[wrong] = (Y[wrong] + 1) % C
    out = graph_data(X, Y_, Y, special=[0, 4], ax=ax)
    assert out is ax
    by_marker = {marker_of(c): c for c in ax.collections}
    assert set(by_marker) == {"o", "s"}
    squares, circles = by_marker["s"], by_marker["o"]
    np.testing.assert_allclose(squares.get_offsets(), X[wrong])
    assert len(circles.get_offsets()) == 12 - len(wrong)
    assert list(squares.get_sizes()) == [20, 40, 20]  # point 4 is special
    colours = np.concatenate([circles.get_facecolors(), squares.get_facecolors()])
    assert len({tuple(c) for c in colours}) == C  # one colour per true class
    if C == 2:
        assert np.allclose(colours[:, 0], colours[:, 1])  # grey levels
    ax.figure.savefig(tmp_path / "data.png")


def test_image_grid_and_filter_grid_draw_one_image_per_item():
    from dlcourse.plot import filter_grid, image_grid

    fig = image_grid(
        np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8), ["a", "b"], ncols=4
    )
    shown = [ax for ax in fig.axes if ax.images]
    assert (
        len(fig.axes) == 8
        and len(shown) == 5
        and [ax.get_title() for ax in shown[:3]] == ["a", "b", ""]
    )
    plt.close(fig)
    fig = filter_grid(np.random.default_rng(1).standard_normal((6, 1, 5, 5)), "conv1")
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 6 and images[0].shape == (5, 5) and float(np.min(images[0])) == 0.0
    assert fig._suptitle.get_text() == "conv1"
    plt.close(fig)
