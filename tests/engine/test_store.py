"""The LanceDB store: round trips, visibility, filtering, the three searches, ANN, errors."""

from __future__ import annotations

import errno
import itertools
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grit_desktop.engine.index import store as store_module
from grit_desktop.engine.index.store import (
    TIDY_VERSIONS,
    ChunkRecord,
    DocumentGone,
    DocumentRecord,
    SearchHit,
    Store,
    StoreError,
    rrf_fuse,
)

DIM = 64
WORDS = ("pump valve seal pressure manual warranty filter motor housing bearing cable switch "
         "panel sensor bracket washer spring flange nozzle gauge").split()


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)  # [n, dim]


def clustered(rng: np.random.Generator, n: int, clusters: int, spread: float = 0.1,
              dim: int = DIM) -> np.ndarray:
    centres = unit(rng, clusters, dim)
    x = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim)).astype(np.float32) * spread
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def doc(doc_id: str, status: str = "ready", added_at: float = 1.0, **kw: object) -> DocumentRecord:
    fields: dict[str, object] = dict(doc_id=doc_id, path=f"/docs/{doc_id}.pdf", title=f"Title {doc_id}",
                                     author="A. Author", pages=10, bytes=1234, mtime=5.5,
                                     status=status, added_at=added_at)
    fields.update(kw)
    return DocumentRecord(**fields)  # type: ignore[arg-type]


def chunks(doc_id: str, vectors: np.ndarray, texts: list[str] | None = None) -> list[ChunkRecord]:
    n = len(vectors)
    texts = texts or [f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i + 1) % len(WORDS)]}" for i in range(n)]
    return [ChunkRecord(doc_id=doc_id, index=i, text=texts[i], page_start=i // 3 + 1,
                        page_end=i // 3 + 2, char_start=100 * i, char_end=100 * i + 90, tokens=20 + i,
                        vector=vectors[i]) for i in range(n)]


def add_doc(store: Store, doc_id: str, vectors: np.ndarray, texts: list[str] | None = None,
            status: str = "ready", added_at: float = 1.0) -> list[ChunkRecord]:
    records = chunks(doc_id, vectors, texts)
    store.put_document(doc(doc_id, "indexing", added_at, chunks=len(records)))
    store.add_chunks(records)
    if status != "indexing":
        store.set_status(doc_id, status)  # type: ignore[arg-type]
    return records


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "library", DIM)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------
# documents


def test_document_round_trip_and_order(store: Store) -> None:
    b = doc("b", added_at=20.0, error="", chunks=7)
    a = doc("a", "indexing", added_at=10.0)
    store.put_document(b)
    store.put_document(a)
    assert store.document("a") == a
    assert store.document("b") == b
    assert store.document("zzz") is None
    assert [d.doc_id for d in store.documents()] == ["a", "b"]
    assert store.document_by_path("/docs/b.pdf") == b
    assert store.document_by_path("/nowhere.pdf") is None


def test_put_document_replaces_by_doc_id(store: Store, tmp_path: Path) -> None:
    store.put_document(doc("a", title="Old"))
    store.put_document(doc("a", title="New", path="/moved/a.pdf"))
    assert [d.title for d in store.documents()] == ["New"]
    assert store.document_by_path("/moved/a.pdf") is not None
    assert store.document_by_path("/docs/a.pdf") is None
    assert [d.title for d in Store(tmp_path / "library", DIM).documents()] == ["New"]  # one row on disk


def test_document_by_path_prefers_the_newest(store: Store) -> None:
    store.put_document(doc("old", added_at=1.0, path="/same.pdf"))
    store.put_document(doc("new", added_at=2.0, path="/same.pdf"))
    found = store.document_by_path("/same.pdf")
    assert found is not None and found.doc_id == "new"


def test_set_status(store: Store, tmp_path: Path) -> None:
    store.put_document(doc("a", "indexing", chunks=3))
    store.set_status("a", "error", error="could not read page 4")
    got = store.document("a")
    assert got is not None and (got.status, got.error, got.chunks) == ("error", "could not read page 4", 3)
    store.set_status("a", "ready", chunks=12)
    got = store.document("a")
    assert got is not None and (got.status, got.error, got.chunks) == ("ready", "", 12)
    reopened = Store(tmp_path / "library", DIM).document("a")
    assert reopened == got
    with pytest.raises(DocumentGone):
        store.set_status("missing", "ready")
    with pytest.raises(ValueError, match="status"):
        store.set_status("a", "done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        store.put_document(doc("b", "finished"))


def test_quotes_in_ids_are_safe(store: Store, rng: np.random.Generator) -> None:
    add_doc(store, "it's", unit(rng, 3))
    add_doc(store, "other", unit(rng, 3))
    assert store.chunk_count("it's") == 3
    hits = store.search_vector(unit(rng, 1)[0], 10, doc_ids=["it's"])
    assert {h.doc_id for h in hits} == {"it's"} and len(hits) == 3
    store.set_status("it's", "error", error="x")
    store.delete_document("it's")
    assert store.document("it's") is None and store.chunk_count("it's") == 0
    assert store.chunk_count("other") == 3


# ---------------------------------------------------------------------------------------------
# chunks


def test_chunks_round_trip(store: Store, rng: np.random.Generator) -> None:
    vectors = unit(rng, 5)
    written = chunks("a", vectors)
    store.put_document(doc("a", "indexing"))
    store.add_chunks(written[3:])  # out of order, in two writes
    store.add_chunks(written[:3])
    assert store.chunk_count("a") == 5
    assert store.chunk_count("b") == 0
    read = store.chunks_of("a")
    assert [c.index for c in read] == [0, 1, 2, 3, 4]
    for w, r in zip(written, read, strict=True):
        assert (r.doc_id, r.text, r.page_start, r.page_end, r.char_start, r.char_end, r.tokens) == (
            w.doc_id, w.text, w.page_start, w.page_end, w.char_start, w.char_end, w.tokens)
        assert r.vector.dtype == np.float32 and r.vector.shape == (DIM,)
        np.testing.assert_array_equal(r.vector, w.vector)
        assert r.chunk_id == w.chunk_id
    assert read[2].chunk_id == "a:000002"


def test_chunk_lookup(store: Store, rng: np.random.Generator) -> None:
    written = add_doc(store, "a", unit(rng, 4), status="indexing")
    hit = store.chunk("a:000002")
    assert hit is not None
    assert (hit.chunk_id, hit.doc_id, hit.index, hit.text, hit.page_start, hit.page_end) == (
        "a:000002", "a", 2, written[2].text, written[2].page_start, written[2].page_end)
    assert (hit.char_start, hit.char_end, hit.tokens) == (200, 290, 22)
    assert (hit.title, hit.path, hit.score, hit.vector_rank, hit.text_rank) == (
        "Title a", "/docs/a.pdf", 0.0, None, None)
    assert store.chunk("a:000099") is None
    store.delete_document("a")
    assert store.chunk("a:000002") is None


def test_add_chunks_checks_its_input(store: Store, rng: np.random.Generator) -> None:
    with pytest.raises(DocumentGone, match="no longer in the library"):
        store.add_chunks(chunks("nobody", unit(rng, 2)))
    store.put_document(doc("a", "indexing"))
    with pytest.raises(ValueError, match=r"\[64\]"):
        store.add_chunks(chunks("a", unit(rng, 2, dim=32)))
    bad = unit(rng, 2)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        store.add_chunks(chunks("a", bad))
    store.add_chunks([])
    assert store.chunk_count("a") == 0


def test_delete_document_removes_its_chunks(store: Store, rng: np.random.Generator) -> None:
    texts = ["zebra crossing"] * 4
    add_doc(store, "a", unit(rng, 4), texts)
    add_doc(store, "b", unit(rng, 4), texts)
    store.optimize()  # the chunks of a are in the full-text index too
    store.delete_document("a")
    store.delete_document("never-there")
    assert store.document("a") is None
    assert store.chunk_count("a") == 0 and store.chunks_of("a") == []
    assert store.chunk_count("b") == 4
    assert {h.doc_id for h in store.search_text("zebra", 10)} == {"b"}
    assert {h.doc_id for h in store.search_vector(unit(rng, 1)[0], 10)} == {"b"}


def test_delete_chunks_keeps_the_document(store: Store, rng: np.random.Generator) -> None:
    add_doc(store, "a", unit(rng, 4), status="indexing")
    store.delete_chunks("a")
    assert store.chunk_count("a") == 0
    assert store.document("a") is not None


# ---------------------------------------------------------------------------------------------
# visibility and filtering


def test_only_ready_documents_are_ever_searched(store: Store, rng: np.random.Generator) -> None:
    query = unit(rng, 1)[0]
    near = (query + 0.05 * unit(rng, 20)).astype(np.float32)  # nearer the query than anything in "a"
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    add_doc(store, "a", unit(rng, 20), ["zebra " + w for w in WORDS], status="ready")
    add_doc(store, "b", near, ["zebra zebra"] * 20, status="indexing")
    add_doc(store, "c", near, ["zebra zebra"] * 20, status="error")
    store.optimize()
    for hits in (store.search_vector(query, 10), store.search_text("zebra", 10),
                 store.search_hybrid(query, "zebra", 10)):
        # a prefilter: k hits come back although the 40 nearest/best chunks are hidden
        assert len(hits) == 10
        assert {h.doc_id for h in hits} == {"a"}
    assert store.search_vector(query, 10, doc_ids=["b", "c"]) == []
    store.set_status("b", "ready")
    assert {h.doc_id for h in store.search_vector(query, 10)} == {"b"}
    assert store.search_text("zebra", 1)[0].doc_id == "b"


def test_doc_ids_filter(store: Store, rng: np.random.Generator) -> None:
    for name in ("a", "b", "c"):
        add_doc(store, name, unit(rng, 15), ["pump " + w for w in WORDS[:15]])
    query = unit(rng, 1)[0]
    assert {h.doc_id for h in store.search_vector(query, 30)} == {"a", "b", "c"}

    def vector(ids: list[str]) -> list[SearchHit]:
        return store.search_vector(query, 10, doc_ids=ids)

    def text(ids: list[str]) -> list[SearchHit]:
        return store.search_text("pump", 10, doc_ids=ids)

    def hybrid(ids: list[str]) -> list[SearchHit]:
        return store.search_hybrid(query, "pump", 10, doc_ids=ids)

    for search in (vector, text, hybrid):
        hits = search(["b"])
        assert len(hits) == 10 and {h.doc_id for h in hits} == {"b"}
        assert {h.doc_id for h in search(["a", "c", "unknown"])} == {"a", "c"}
        assert search([]) == []
        assert search(["unknown"]) == []


# ---------------------------------------------------------------------------------------------
# the three searches


def test_vector_search_ranks_by_cosine(store: Store, rng: np.random.Generator) -> None:
    vectors = unit(rng, 50)
    add_doc(store, "a", vectors)
    query = unit(rng, 1)[0]
    cos = vectors @ query
    order = np.argsort(-cos)[:7]
    hits = store.search_vector(query * 3.0, 7)  # the length of the query does not matter
    assert [h.index for h in hits] == order.tolist()
    np.testing.assert_allclose([h.score for h in hits], cos[order], atol=1e-5)
    assert [h.vector_rank for h in hits] == list(range(1, 8))
    assert all(h.text_rank is None for h in hits)
    assert (hits[0].title, hits[0].path) == ("Title a", "/docs/a.pdf")
    assert store.search_vector(query, 0) == []
    np.testing.assert_allclose(store.search_vector(vectors[9], 1)[0].score, 1.0, atol=1e-5)


def test_vector_search_rejects_bad_queries(store: Store) -> None:
    for bad in (np.zeros(DIM, np.float32), np.ones(DIM + 1, np.float32), np.full(DIM, np.nan, np.float32)):
        with pytest.raises(ValueError):
            store.search_vector(bad, 5)


def test_text_search_finds_words(store: Store, rng: np.random.Generator) -> None:
    texts = ["The pump must be primed before running.", "Replace the valve seal every year.",
             "Warranty: two years, parts and labour.", "Running the motor dry damages the SEAL.",
             "Nothing relevant here."]
    add_doc(store, "a", unit(rng, 5), texts)
    hits = store.search_text("seal", 10)
    assert {h.index for h in hits} == {1, 3}
    assert store.search_text("runs", 10)[0].index in (0, 3)  # stemmed: runs ~ running
    assert {h.index for h in store.search_text("runs", 10)} == {0, 3}
    hits = store.search_text("seal running", 10)
    assert hits[0].index == 3  # both words
    assert [h.text_rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(h.vector_rank is None for h in hits)
    assert all(a.score >= b.score > 0 for a, b in itertools.pairwise(hits))
    assert store.search_text("giraffe", 10) == []


@pytest.mark.parametrize("query", [
    '"', ":", "(", ")", "AND", "OR", "NOT", "*", "", "   ", "\t\n", '"unterminated pump',
    "pump AND (valve", "text:pump", "pump^2", "pump~", "O'Brien's pump", "\\", "-pump", "+pump",
    "[pump TO valve]", "{}", "/pu.*mp/", "'; DROP TABLE chunks; --", "pump\x00", "??? !!!",
    "ümlaut pümp", "pump " * 2000,
])
def test_text_search_survives_what_people_type(store: Store, rng: np.random.Generator, query: str) -> None:
    add_doc(store, "a", unit(rng, 3), ["the pump is quiet", "a valve", "O'Brien wrote it"])
    hits = store.search_text(query, 5)
    hybrid = store.search_hybrid(unit(rng, 1)[0], query, 5)
    assert isinstance(hits, list) and len(hybrid) == 3
    if "pump" in query.lower():
        assert 0 in {h.index for h in hits}


def test_long_text_queries_are_cut(store: Store, rng: np.random.Generator) -> None:
    add_doc(store, "a", unit(rng, 2), ["a valve", "a pump"])
    hits = store.search_text("valve " * 1000 + "pump", 5)  # "pump" is past MAX_QUERY_CHARS
    assert [h.index for h in hits] == [0]


def test_hybrid_finds_a_rare_word_that_vectors_miss(store: Store, rng: np.random.Generator) -> None:
    # vectors unrelated to the texts: a weak embedding that knows nothing of part numbers
    n, rare = 300, 211
    texts = [" ".join(rng.choice(WORDS, size=8)) for _ in range(n)]
    texts[rare] = "fit the XJ-4471 gasket to the housing"
    vectors = unit(rng, n)
    add_doc(store, "a", vectors, texts)
    query = vectors[7] + 0.02 * unit(rng, 1)[0]
    words = "which part is XJ-4471?"
    vector_hits = store.search_vector(query, 5)
    assert vector_hits[0].index == 7
    assert rare not in {h.index for h in vector_hits}  # vector search alone misses it
    hits = store.search_hybrid(query, words, 5)
    by_index = {h.index: h for h in hits}
    assert len(hits) == 5 and {7, rare} <= set(by_index)
    assert by_index[7].vector_rank == 1 and by_index[rare].text_rank == 1
    assert {h.index for h in hits[:2]} == {7, rare}
    vector_rank = by_index[rare].vector_rank
    np.testing.assert_allclose(by_index[rare].score, 1 / 61 + (1 / (60 + vector_rank) if vector_rank else 0))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert store.search_hybrid(query, words, 0) == []


def test_rrf_fuse() -> None:
    def hit(name: str) -> SearchHit:
        return SearchHit(chunk_id=name, doc_id="d", index=0, text=name, page_start=1, page_end=1,
                         char_start=0, char_end=1, tokens=1, title="T", path="/p", score=0.5)

    a, b, c, d = (hit(x) for x in "abcd")
    fused = rrf_fuse([a, b, c], [c, d], 10)
    assert [h.chunk_id for h in fused] == ["c", "a", "b", "d"]  # b and d tie: the vector rank wins
    assert [(h.vector_rank, h.text_rank) for h in fused] == [(3, 1), (1, None), (2, None), (None, 2)]
    np.testing.assert_allclose([h.score for h in fused], [1 / 63 + 1 / 61, 1 / 61, 1 / 62, 1 / 62])
    assert [h.chunk_id for h in rrf_fuse([a, b, c], [c, d], 2)] == ["c", "a"]
    assert rrf_fuse([], [], 5) == []


def test_rows_added_after_the_fts_index_are_found(store: Store, rng: np.random.Generator) -> None:
    add_doc(store, "a", unit(rng, 30), [" ".join(rng.choice(WORDS, size=6)) for _ in range(30)])
    store.optimize()
    assert store.stats()["has_fts_index"] and store.stats()["fts_unindexed_chunks"] == 0
    add_doc(store, "b", unit(rng, 2), ["a quokka in the pump room", "nothing"])
    assert store.stats()["fts_unindexed_chunks"] == 2
    assert [h.chunk_id for h in store.search_text("quokka", 5)] == ["b:000000"]
    assert len(store.search_text("pump quokka", 50)) > 1  # indexed and unindexed rows together
    store.optimize()
    assert store.stats()["fts_unindexed_chunks"] == 0
    assert [h.chunk_id for h in store.search_text("quokka", 5)] == ["b:000000"]


# ---------------------------------------------------------------------------------------------
# the ANN index


def test_small_libraries_search_exactly(store: Store, rng: np.random.Generator) -> None:
    add_doc(store, "a", unit(rng, 100))
    store.optimize()
    assert store.stats()["has_ann_index"] is False


def recall_at_10(store: Store, vectors: np.ndarray, queries: np.ndarray, rows: dict[str, int]) -> float:
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = [{rows[h.chunk_id] for h in store.search_vector(q, 10)} for q in queries]
    return float(np.mean([len(f & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]))


def test_ann_index_keeps_recall(store: Store, rng: np.random.Generator,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "ANN_MIN_ROWS", 1000)
    monkeypatch.setattr(store_module, "ANN_ROWS_PER_PARTITION", 50)  # ~60 partitions, 20 probed
    vectors = clustered(rng, 3000, clusters=60, spread=0.2)  # neighbours across partitions
    rows: dict[str, int] = {}
    for d in range(30):
        records = add_doc(store, f"d{d:02d}", vectors[d * 100:(d + 1) * 100])
        rows.update({c.chunk_id: d * 100 + c.index for c in records})
    store.optimize()
    stats = store.stats()
    assert stats["has_ann_index"] is True and stats["ann_unindexed_chunks"] == 0
    queries = vectors[rng.choice(3000, 40, replace=False)] + 0.05 * unit(rng, 40)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    assert recall_at_10(store, vectors, queries, rows) >= 0.95
    # the index is really used: with one probe and no re-ranking, recall drops
    monkeypatch.setattr(store_module, "ANN_NPROBES", 1)
    monkeypatch.setattr(store_module, "ANN_REFINE_FACTOR", 1)
    assert recall_at_10(store, vectors, queries, rows) < 0.9
    exact = [rows[h.chunk_id] for h in store.search_vector(queries[0], 10, exact=True)]
    assert exact == np.argsort(-(vectors @ queries[0]))[:10].tolist()
    # a search within a few documents (up to EXACT_SCOPE_ROWS chunks) is exact
    few = [f"d{d:02d}" for d in range(10)]
    ways: list[bool] = []
    vector_rows = store._vector_rows

    def spy(*args: Any) -> Any:
        ways.append(args[3])  # exact?
        return vector_rows(*args)

    monkeypatch.setattr(store, "_vector_rows", spy)
    for query in queries[:5]:
        expected = np.argsort(-(vectors[:1000] @ query))[:10].tolist()
        assert [rows[h.chunk_id] for h in store.search_vector(query, 10, doc_ids=few)] == expected
    assert ways == [True] * 5
    store.search_vector(queries[0], 10, doc_ids=[*few, "d10"])
    assert ways[-1] is False
    # through the index, filters still give k hits: the probes go on past ANN_NPROBES (here 1)
    monkeypatch.setattr(store_module, "EXACT_SCOPE_ROWS", 0)
    hits = store.search_vector(queries[0], 10, doc_ids=["d07"])
    assert len(hits) == 10 and {h.doc_id for h in hits} == {"d07"}
    for d in range(29):
        store.set_status(f"d{d:02d}", "indexing")
    for query in queries[:5]:
        hits = store.search_vector(query, 10)
        assert len(hits) == 10 and {h.doc_id for h in hits} == {"d29"}


def test_ann_index_is_retrained_when_the_library_doubles(
        store: Store, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "ANN_MIN_ROWS", 500)
    add_doc(store, "a", clustered(rng, 600, 20))
    store.optimize()
    assert store.stats()["ann_trained_chunks"] == 600
    add_doc(store, "b", clustered(rng, 200, 20))
    assert store.stats()["ann_unindexed_chunks"] == 200
    store.optimize()  # folded into the index, not retrained
    assert store.stats()["ann_trained_chunks"] == 600 and store.stats()["ann_unindexed_chunks"] == 0
    add_doc(store, "c", clustered(rng, 500, 20))
    store.optimize()
    assert store.stats()["ann_trained_chunks"] == 1300


def test_ann_bits_follow_the_dimension() -> None:
    assert store_module.ann_config(8192).num_bits == 1
    assert store_module.ann_config(4096).num_bits == 2
    assert store_module.ann_config(2048).num_bits == 4
    assert store_module.ann_config(64).num_bits == 8
    assert store_module.ann_config(4096).distance_type == "cosine"


# ---------------------------------------------------------------------------------------------
# on disk


def test_reopen_keeps_everything(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "library"
    store = Store(folder, DIM)
    add_doc(store, "a", unit(rng, 10), [f"alpha {w}" for w in WORDS[:10]])
    add_doc(store, "b", unit(rng, 5), status="indexing")
    store.optimize()
    query = unit(rng, 1)[0]
    before = (store.documents(), store.search_vector(query, 5), store.search_text("alpha", 5),
              store.search_hybrid(query, "alpha valve", 5), store.stats())
    again = Store(folder, DIM)
    after = (again.documents(), again.search_vector(query, 5), again.search_text("alpha", 5),
             again.search_hybrid(query, "alpha valve", 5), again.stats())
    assert after == before
    np.testing.assert_array_equal(np.stack([c.vector for c in again.chunks_of("b")]),
                                  np.stack([c.vector for c in store.chunks_of("b")]))


def test_another_dimension_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "library"
    add_doc(Store(folder, DIM), "a", unit(rng, 2))
    with pytest.raises(StoreError, match="re-indexed") as info:
        Store(folder, 4096)
    assert "64" in str(info.value) and "4096" in str(info.value) and "\n" not in str(info.value)
    assert Store.existing_dimension(folder) == DIM
    assert Store(folder, DIM).chunk_count("a") == 2


def test_dimension_zero_means_unknown(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "library"
    assert Store.existing_dimension(folder) is None
    empty = Store(folder, 0)  # no model, no library yet: documents only
    empty.put_document(doc("a"))
    assert [d.doc_id for d in empty.documents()] == ["a"]
    assert empty.search_text("pump", 5) == [] and empty.chunks_of("a") == [] and empty.chunk_count("a") == 0
    with pytest.raises(ValueError, match="no model"):
        empty.add_chunks(chunks("a", unit(rng, 1)))
    empty.optimize()
    assert Store.existing_dimension(folder) is None
    add_doc(Store(folder, DIM), "b", unit(rng, 3), ["pump"] * 3)
    opened = Store(folder, 0)  # no model: the library's own size
    assert opened.dim == DIM and Store.existing_dimension(folder) == DIM
    assert len(opened.search_text("pump", 5)) == 3
    with pytest.raises(ValueError):
        Store(folder, -1)


def test_optimize_frees_the_space_of_deleted_documents(tmp_path: Path, rng: np.random.Generator) -> None:
    store = Store(tmp_path / "library", DIM, keep_versions_for=timedelta(0))
    add_doc(store, "a", unit(rng, 400))
    add_doc(store, "b", unit(rng, 10))
    store.optimize()
    full = store.stats()["disk_bytes"]
    store.delete_document("a")
    store.optimize()
    assert store.stats()["disk_bytes"] < full / 3
    assert store.chunk_count("b") == 10


def test_optimize_keeps_recent_versions_for_other_processes(store: Store, rng: np.random.Generator) -> None:
    """A search another process started on an older version must find its files: versions
    younger than keep_versions_for stay; a library left with many versions is tidied."""
    add_doc(store, "a", unit(rng, 40))
    versions = len(store._chunks.list_versions())
    store.delete_document("a")
    store.optimize()
    assert len(store._chunks.list_versions()) > versions  # nothing young was removed
    assert not store.needs_tidy()
    for i in range(TIDY_VERSIONS // 2 + 1):
        store.put_document(doc(f"d{i}", "ready"))
        store.set_status(f"d{i}", "ready", chunks=0)
    assert store.needs_tidy()
    store.keep_versions_for = timedelta(0)
    store.optimize()
    assert not store.needs_tidy() and len(store.documents()) == TIDY_VERSIONS // 2 + 1


def test_writes_from_several_threads(store: Store) -> None:
    def put(t: int) -> None:
        for i in range(10):
            store.put_document(doc(f"t{t}-{i}", added_at=float(i)))

    threads = [threading.Thread(target=put, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.documents()) == 40
    assert len(Store(store.folder, DIM).documents()) == 40


# ---------------------------------------------------------------------------------------------
# errors


def test_disk_full_becomes_a_store_error(store: Store, rng: np.random.Generator,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    add_doc(store, "a", unit(rng, 2))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store._chunks, "add", full)
    with pytest.raises(StoreError, match="is full") as info:
        store.add_chunks(chunks("a", unit(rng, 2)))
    assert "\n" not in str(info.value) and str(store.folder) in str(info.value)
    monkeypatch.setattr(store._documents, "merge_insert", full)
    with pytest.raises(StoreError, match="is full"):
        store.put_document(doc("a", title="changed"))
    got = store.document("a")
    assert got is not None and got.title == "Title a"  # nothing half-written
    monkeypatch.undo()
    assert store.chunk_count("a") == 2


def test_lance_io_errors_become_store_errors(store: Store, rng: np.random.Generator,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    add_doc(store, "a", unit(rng, 2))

    def lance_error(message: str):  # type: ignore[no-untyped-def]
        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError(message)
        return fail

    monkeypatch.setattr(store._documents, "update", lance_error(
        "lance error: LanceError(IO): Generic LocalFileSystem error: No space left on device (os error 28)"))
    with pytest.raises(StoreError, match="is full"):
        store.set_status("a", "error")
    assert store.document("a").status == "ready"  # type: ignore[union-attr]
    # An error while the files read back fine (another process, a passing I/O error) is not
    # called damage: nobody is told to delete a library that is whole.
    monkeypatch.setattr(store._chunks, "search", lance_error("lance error: LanceError(IO): corrupt file"))
    with pytest.raises(StoreError, match="Try again") as raised:
        store.search_vector(unit(rng, 1)[0], 5)
    assert "damaged" not in str(raised.value) and "Remove" not in str(raised.value)


def test_damaged_files_become_a_store_error(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "library"
    add_doc(Store(folder, DIM), "a", unit(rng, 5))
    data = list((folder / "chunks.lance" / "data").iterdir())
    assert data
    for path in data:
        path.write_bytes(b"garbage")
    with pytest.raises(StoreError, match="damaged"):
        Store(folder, DIM).search_vector(unit(rng, 1)[0], 5)


# ---------------------------------------------------------------------------------------------
# headings, and libraries written before them


def test_headings_round_trip(store: Store, rng: np.random.Generator) -> None:
    vectors = unit(rng, 3)
    written = [ChunkRecord(doc_id="a", index=i, text=f"{WORDS[i]} text", page_start=1, page_end=1,
                           char_start=0, char_end=9, tokens=3, vector=vectors[i],
                           heading=["", "Chapter 1: Installation", "Usage"][i]) for i in range(3)]
    store.put_document(doc("a", "indexing", chunks=3))
    store.add_chunks(written)
    store.set_status("a", "ready")
    assert [c.heading for c in store.chunks_of("a")] == ["", "Chapter 1: Installation", "Usage"]
    hit = store.chunk("a:000001")
    assert hit is not None and hit.heading == "Chapter 1: Installation"
    assert hit.location == "§ Chapter 1: Installation, p. 1"
    found = store.search_hybrid(vectors[2], "valve", 3)
    assert {h.chunk_id: h.heading for h in found}["a:000002"] == "Usage"
    assert {h.heading for h in store.search_vector(vectors[0], 3)} == {"", "Chapter 1: Installation", "Usage"}


def test_a_library_from_before_headings_opens_and_searches(tmp_path: Path, rng: np.random.Generator) -> None:
    import lancedb

    folder = tmp_path / "library"
    old = Store(folder, DIM)
    add_doc(old, "a", unit(rng, 6), [f"alpha {w}" for w in WORDS[:6]])
    del old
    # what an earlier version wrote: the same chunks table without the heading column
    table = lancedb.connect(str(folder)).open_table("chunks")
    table.drop_columns(["heading"])
    assert "heading" not in table.schema.names
    store = Store(folder, DIM)
    assert "heading" in lancedb.connect(str(folder)).open_table("chunks").schema.names
    assert [c.heading for c in store.chunks_of("a")] == [""] * 6
    hits = store.search_hybrid(unit(rng, 1)[0], "alpha", 3)
    assert len(hits) == 3 and {h.heading for h in hits} == {""}
    assert hits[0].location == hits[0].pages
    assert {h.doc_id for h in store.search_text("alpha", 5)} == {"a"}
    vectors = unit(rng, 1)
    store.put_document(doc("b", "indexing", chunks=1))
    store.add_chunks([ChunkRecord(doc_id="b", index=0, text="beta", page_start=2, page_end=2,
                                  char_start=0, char_end=4, tokens=1, vector=vectors[0], heading="Usage")])
    store.set_status("b", "ready")
    again = Store(folder, DIM)
    assert [c.heading for c in again.chunks_of("b")] == ["Usage"]
    assert again.chunk_count("a") == 6
