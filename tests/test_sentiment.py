"""Lab 3, part 2: the reference models (autograder.reference.lab3) ignore padding, train, and are
evaluated right; dlcourse.sentiment names the recurrent layers."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score
from torch import nn

from autograder.reference import lab3 as ref
from dlcourse import sentiment
from dlcourse.data import sst

pytestmark = [pytest.mark.lab3, pytest.mark.usefixtures("one_torch_thread")]


def _embedding(V=30, d=6, seed=0):
    torch.manual_seed(seed)
    W = torch.randn(V, d)
    W[0] = 0
    return nn.Embedding.from_pretrained(W, padding_idx=0, freeze=True)


def _batch(lengths, V=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    texts = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        texts[i, :n] = torch.randint(1, V, (n,), generator=g)
    return texts, torch.tensor(lengths)


MODELS = {
    "baseline": lambda emb: ref.BaselineModel(emb, 10),
    "gru": lambda emb: ref.RecurrentModel(emb, "gru", 7),
    "lstm-bidirectional": lambda emb: ref.RecurrentModel(emb, "lstm", 5, 1, bidirectional=True),
    "rnn-dropout": lambda emb: ref.RecurrentModel(emb, "rnn", 4, 3, dropout=0.5),
    "attention": lambda emb: ref.AttentionModel(emb, "gru", 6, bidirectional=True),
}


@pytest.mark.parametrize("name", MODELS)
def test_each_sentence_gets_the_logit_it_gets_alone(name):
    """Padding and the other sentences of the batch change nothing."""
    torch.manual_seed(0)
    model = MODELS[name](_embedding()).eval()
    texts, lengths = _batch([5, 2, 4, 1])
    logits = model(texts, lengths)
    assert logits.shape == (4,)
    alone = torch.cat(
        [model(texts[i : i + 1, :n], lengths[i : i + 1]) for i, n in enumerate(lengths.tolist())]
    )
    torch.testing.assert_close(logits, alone, rtol=1e-5, atol=1e-6)
    assert len(set(logits.tolist())) == 4


def test_the_embedding_stays_frozen_and_other_parameters_train():
    emb = _embedding()
    model = ref.RecurrentModel(emb, "gru", 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    texts, lengths = _batch([4, 3, 2, 5])
    labels = torch.tensor([1, 0, 1, 0])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    losses = [
        ref.train_epoch(model, [(texts, labels, lengths)], optimizer, clip=1.0) for _ in range(10)
    ]
    assert losses[-1] < 0.7 * losses[0]
    after = model.state_dict()
    assert torch.equal(after["embedding.weight"], before["embedding.weight"])
    assert not torch.equal(after["fc1.weight"], before["fc1.weight"])


def test_evaluate_matches_scikit_learn():
    model = ref.BaselineModel(_embedding(), 5)
    loader = [(*_batch([3, 1, 4], seed=s),) for s in range(4)]
    loader = [(texts, torch.tensor([1, 0, 1]), lengths) for texts, lengths in loader]
    result = ref.evaluate(model, loader)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(t, n) for t, _, n in loader])
    y = np.array([1, 0, 1] * 4)
    pred = (logits > 0).long().numpy()
    assert result["accuracy"] == pytest.approx(np.mean(pred == y))
    assert result["f1"] == pytest.approx(f1_score(y, pred, zero_division=0))
    assert np.array_equal(result["confusion_matrix"], confusion_matrix(y, pred, labels=[0, 1]))
    bce = nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(y).float())
    assert result["loss"] == pytest.approx(bce.item(), rel=1e-6)


def test_unknown_cell_is_a_clear_error():
    with pytest.raises(ValueError, match="use one of"):
        ref.RecurrentModel(_embedding(), cell="transformer")
    assert sentiment.CELLS == {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def test_a_few_epochs_on_real_sentences_learn_something():
    """A few hundred SST sentences with GloVe vectors: the baseline's loss on them drops."""
    train = ref.NLPDataset.from_file(sst.split_path("train"))
    torch.manual_seed(0)
    emb = ref.load_embedding(train.vocab, sst.load_glove())
    model = ref.BaselineModel(emb, 32)
    subset = torch.utils.data.Subset(train, range(0, 6920, 12))  # both classes, 577 sentences
    loader = torch.utils.data.DataLoader(
        subset,
        batch_size=16,
        shuffle=True,
        collate_fn=ref.pad_collate_fn,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = ref.evaluate(model, loader)["loss"]
    for _ in range(3):
        ref.train_epoch(model, loader, optimizer)
    assert ref.evaluate(model, loader)["loss"] < first - 0.05
