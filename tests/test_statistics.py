"""Streaming statistics against a two-pass float64 numpy reference, and the whitening factor."""

import numpy as np
import pytest
import torch

from padim_edge.model.statistics import StreamingGaussian, whiten_chunks, whitening_factor
from padim_edge.model.sums import Sums


def test_streaming_equals_two_pass_numpy() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(37, 5, 8)) * rng.uniform(0.1, 10, size=(1, 1, 8))  # [N, P, d]
    stats = StreamingGaussian(5, 8)
    for chunk in np.array_split(data, [1, 4, 13, 14, 30]):  # uneven batches, one of a single image
        stats.update(torch.from_numpy(chunk))
    mean = data.mean(axis=0)
    centred = data - mean
    cov = np.einsum("npi,npj->pij", centred, centred) / (len(data) - 1) + 0.01 * np.eye(8)
    assert stats.count == 37
    np.testing.assert_allclose(stats.mean.numpy(), mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stats.covariance(0.01).numpy(), cov, rtol=0, atol=1e-6)


def test_covariance_needs_two_images() -> None:
    stats = StreamingGaussian(2, 3)
    stats.update(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="at least 2"):
        stats.covariance()


def test_whitening_factor_gives_the_mahalanobis_distance() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 30, 30))
    cov = torch.from_numpy(a @ a.transpose(0, 2, 1) / 30 + 0.01 * np.eye(30))
    w = whitening_factor(cov)
    eye = torch.eye(30, dtype=torch.float64)
    assert torch.allclose(w @ cov @ w.transpose(1, 2), eye.expand(4, 30, 30), atol=1e-8)
    v = torch.from_numpy(rng.normal(size=(4, 30, 1)))
    expected = (v.transpose(1, 2) @ torch.from_numpy(np.linalg.inv(cov.numpy())) @ v).flatten()
    assert torch.allclose(((w @ v) ** 2).sum((1, 2)), expected, rtol=1e-8)


def test_chunked_whitening_equals_whole() -> None:
    rng = np.random.default_rng(2)
    stats = StreamingGaussian(7, 6)
    stats.update(torch.from_numpy(rng.normal(size=(20, 7, 6))))
    whole = whitening_factor(stats.covariance(0.01)).float()
    chunked = whiten_chunks(lambda part: stats.covariance(0.01, part), 7, 6, chunk=3)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(Sums.pooled(stats, (7, 1), 1).whitening(0.01), whole, rtol=1e-6, atol=1e-6)


def test_merged_sums_equal_one_stream() -> None:
    """Chan-Golub-LeVeque: sums of two halves merged (tiles pooled first) equal those of all the images."""
    rng = np.random.default_rng(4)
    data = torch.from_numpy(rng.normal(5.0, 3.0, size=(29, 5 * 7, 4)))
    parts = []
    for chunk in (data[:11], data[11:]):
        stats = StreamingGaussian(35, 4)
        stats.update(chunk)
        parts.append(Sums.pooled(stats, (5, 7), 2))
    whole = StreamingGaussian(35, 4)
    whole.update(data)
    expected, merged = Sums.pooled(whole, (5, 7), 2), parts[0].merge(parts[1])
    assert merged.count == 29
    torch.testing.assert_close(merged.mean, expected.mean, rtol=1e-12, atol=0)
    torch.testing.assert_close(merged.scatter, expected.scatter, rtol=1e-12, atol=1e-12)


def test_tiles_share_the_covariance_pooled_over_their_positions() -> None:
    """Sums.whitening: each k x k tile's covariance is its positions' scatters, each around its own mean,
    pooled (edge tiles hold fewer positions); the head then reads one W per tile."""
    from padim_edge.model.graph import MahalanobisHead
    from padim_edge.model.statistics import block_ids

    rng = np.random.default_rng(3)
    h, w, d, n = 5, 7, 4, 30
    data = rng.normal(size=(n, h * w, d)) * rng.uniform(0.5, 3, size=(1, h * w, d))
    stats = StreamingGaussian(h * w, d)
    stats.update(torch.from_numpy(data))
    ids, tiles = block_ids((h, w), 2)
    assert tiles == 3 * 4 and ids.tolist()[:8] == [0, 0, 1, 1, 2, 2, 3, 0]
    factors = Sums.pooled(stats, (h, w), 2).whitening(eps=0.01)
    centred = data - data.mean(0)
    for tile in range(tiles):
        members = (ids == tile).numpy()
        scatter = np.einsum("npi,npj->ij", centred[:, members], centred[:, members])
        cov = scatter / (members.sum() * (n - 1)) + 0.01 * np.eye(d)
        wt = factors[tile].double().numpy()
        np.testing.assert_allclose(wt @ cov @ wt.T, np.eye(d), atol=1e-5)
    head = MahalanobisHead(stats.mean.float(), factors, (h, w), 2)
    x = torch.from_numpy(data[:3]).float().transpose(1, 2).reshape(3, d, h, w)
    out = head(x).reshape(3, -1)
    for p in range(h * w):  # every position: tile regrouping and edge padding must put each back in place
        v = torch.from_numpy(data[:3, p] - data[:, p].mean(0)).float()
        expected = (v @ factors[ids[p]].T).pow(2).sum(-1).sqrt()
        torch.testing.assert_close(out[:, p], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prior", [0.0, 12.0])
def test_prior_pulls_each_tile_toward_the_covariance_pooled_over_every_position(prior: float) -> None:
    """Sums.covariance with a prior worth k samples: (M_t + k G) / (m_t (n - 1) + k) + eps I, G the scatter of
    every position over all their samples; the pull fades as images are added."""
    from padim_edge.model.statistics import block_ids

    rng = np.random.default_rng(5)
    h, w, d = 3, 5, 4
    data = rng.normal(size=(40, h * w, d)) * rng.uniform(0.5, 3, size=(1, h * w, d))
    ids, tiles = block_ids((h, w), 2)
    centred = data - data.mean(0)
    pooled = np.einsum("npi,npj->ij", centred, centred) / (h * w * (len(data) - 1))

    def tile_covariances(n: int) -> tuple[np.ndarray, np.ndarray]:
        stats = StreamingGaussian(h * w, d)
        stats.update(torch.from_numpy(data[:n]))
        part = data[:n] - data[:n].mean(0)
        got = Sums.pooled(stats, (h, w), 2).covariance(0.01, prior).numpy()
        raw = []
        for tile in range(tiles):
            members = (ids == tile).numpy()
            scatter = np.einsum("npi,npj->ij", part[:, members], part[:, members])
            total = np.einsum("npi,npj->ij", part, part) / (h * w * (n - 1))
            expected = (scatter + prior * total) / (members.sum() * (n - 1) + prior) + 0.01 * np.eye(d)
            np.testing.assert_allclose(got[tile], expected, rtol=1e-10)
            raw.append(scatter / (members.sum() * (n - 1)) + 0.01 * np.eye(d))
        return got, np.array(raw)

    few, few_raw = tile_covariances(6)
    many, many_raw = tile_covariances(40)
    if prior == 0:
        np.testing.assert_allclose(many, many_raw, rtol=1e-12)
    else:  # closer to the pooled covariance than the tile's own estimate, less so with more images
        target = pooled + 0.01 * np.eye(d)
        pull_few = np.linalg.norm(few - few_raw, axis=(1, 2)).mean()
        pull_many = np.linalg.norm(many - many_raw, axis=(1, 2)).mean()
        assert np.linalg.norm(many - target) < np.linalg.norm(many_raw - target)
        assert pull_many < pull_few
