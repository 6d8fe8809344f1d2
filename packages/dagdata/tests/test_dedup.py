"""Exact-duplicate keys, MinHash near-duplicate clusters and the cross-split similarity estimate."""

from __future__ import annotations

from types import SimpleNamespace

from dagdata._dedup import max_cross_similarity, near_duplicate_clusters, normalized_hash, signatures


def test_normalized_hash_ignores_whitespace_blank_and_comment_lines() -> None:
    code = "import a\n\nx = 1\n"
    assert normalized_hash(code) == normalized_hash("# header\nimport a\n    \n   x = 1   \n\n")
    assert normalized_hash(code) != normalized_hash("import a\nx = 2\n")


def test_near_duplicates_cluster_and_unrelated_code_does_not(kit: SimpleNamespace) -> None:
    base = kit.code("dedup", tasks=12)
    near = base.replace("BashOperator(task_id=", "BashOperator(  task_id=", 1).replace("echo", "echo -n", 1)
    codes = [kit.code("dedup-other-1"), base, kit.code("dedup-other-2"), near]
    assert kit.jaccard(base, near) > 0.9
    sigs = signatures(codes, num_perm=128, shingle=5)
    assert near_duplicate_clusters(sigs, threshold=0.85, num_perm=128) == [0, 1, 2, 1]
    # The estimate is close to the exact Jaccard of the 5-token shingles.
    assert abs(sigs[1].jaccard(sigs[3]) - kit.jaccard(base, near)) < 0.08


def test_signatures_are_deterministic(kit: SimpleNamespace) -> None:
    codes = [kit.code("det-1"), kit.code("det-2")]
    first, second = signatures(codes, 64, 5), signatures(codes, 64, 5)
    assert [list(s.hashvalues) for s in first] == [list(s.hashvalues) for s in second]


def test_short_code_has_one_shingle() -> None:
    sigs = signatures(["x = 1", "x = 1", "y = 2"], 64, 5)
    assert sigs[0].jaccard(sigs[1]) == 1.0
    assert near_duplicate_clusters(sigs, 0.85, 64) == [0, 0, 2]


def test_max_cross_similarity(kit: SimpleNamespace) -> None:
    base = kit.code("cross", tasks=12)
    near = base.replace("echo", "echo -n", 1)
    train = signatures([base, kit.code("cross-2")], 128, 5)
    test = signatures([near], 128, 5)
    assert max_cross_similarity(train, test, 128) == round(float(test[0].jaccard(train[0])), 4)
    assert max_cross_similarity(train, test, 128) > 0.85
    assert max_cross_similarity(train, signatures([kit.code("cross-3")], 128, 5), 128) < 0.3
    assert max_cross_similarity([], test, 128) == 0.0
    assert max_cross_similarity(train, [], 128) == 0.0
