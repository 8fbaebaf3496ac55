"""The tiny CLIP (digit_clip_tiny): its symmetric InfoNCE, tokenizer, retrieval metric and predict."""

import math

import numpy as np
import pytest
import torch

import zoo
from zoo.losses.ranking import symmetric_info_nce
from zoo.models.digit_clip.model import BOS_ID, EOS_ID, PAD_ID, tokenize
from zoo.models.digit_clip.module import recall_at_k


def test_symmetric_info_nce_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # normalised: (1, 0) and (0.7071, 0.7071)
    scale = 2.0
    s = 1 / math.sqrt(2)
    logits = [[scale * 1.0, scale * s], [scale * 0.0, scale * s]]  # image i . text j
    i2t = -(math.log(math.exp(logits[0][0]) / (math.exp(logits[0][0]) + math.exp(logits[0][1])))
            + math.log(math.exp(logits[1][1]) / (math.exp(logits[1][0]) + math.exp(logits[1][1])))) / 2
    t2i = -(math.log(math.exp(logits[0][0]) / (math.exp(logits[0][0]) + math.exp(logits[1][0])))
            + math.log(math.exp(logits[1][1]) / (math.exp(logits[0][1]) + math.exp(logits[1][1])))) / 2
    assert float(symmetric_info_nce(a, b, scale)) == pytest.approx((i2t + t2i) / 2, rel=1e-5)


def test_loss_equals_transformers_clip_loss():
    model = zoo.create("digit_clip_tiny")
    images = torch.rand(4, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    texts = ["a seven in the thick style", "a plain two", "the digit one, drawn in thin style", "a sunset nine"]
    ids = model.tokens(texts)
    reference = model.net.clip(input_ids=ids, attention_mask=(ids != PAD_ID).long(), pixel_values=(images - 0.5) / 0.5, return_loss=True).loss
    torch.testing.assert_close(model.loss(images, texts), reference, atol=1e-5, rtol=1e-5)


def test_tokenize_layout_and_truncation():
    ids = tokenize(["ab", "x" * 100], 8)
    assert ids[0].tolist() == [BOS_ID, ord("a") + 1, ord("b") + 1, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]
    assert ids[1, 0] == BOS_ID and ids[1, -1] == EOS_ID and (ids[1, 1:-1] == ord("x") + 1).all()


def test_recall_at_k_by_concept():
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.1, 0.9, 0.0]])
    concepts = torch.tensor([7, 7, 3])
    # query 0 -> item 0 (7 = 7: hit); query 1 -> item 2 (3 != 7: miss); query 2 -> item 1 (7 != 3: miss)
    assert float(recall_at_k(similarity, concepts, concepts, 1)) == pytest.approx(1 / 3)
    assert float(recall_at_k(similarity, concepts, concepts, 2)) == pytest.approx(2 / 3)


def test_predict_similarities_and_bad_input():
    model = zoo.create("digit_clip_tiny").eval()
    images = torch.rand(2, 3, 28, 28)
    out = model.predict(images, ["a seven in the thick style", "a plain two", "a sunset nine"])
    assert out["similarity"].shape == (2, 3) and np.allclose(out["probabilities"].sum(1), 1.0, atol=1e-5)
    assert np.abs(out["similarity"]).max() <= 1.0 + 1e-5
    single = model.predict(images[0].numpy(), "a plain two")
    assert single["similarity"].shape == (1,)
    with pytest.raises(ValueError, match="texts: expected a string or a list of strings"):
        model.predict(images)
    with pytest.raises(ValueError, match=r"images: expected shape \(3, H, W\)"):
        model.predict(torch.rand(2, 1, 28, 28), "a plain two")
    with pytest.raises(ValueError, match="images: expected values in"):
        model.predict(images * 3, "a plain two")
    with pytest.raises(ValueError, match="texts: expected a string or a non-empty list"):
        model.predict(images, [])
