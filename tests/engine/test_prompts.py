from grit_desktop.engine.grit import prompts
from grit_desktop.engine.grit.prompts import Segment, Turn


def test_embed_instruction_formats() -> None:
    assert prompts.embed_instruction(None) == "<|embed|>\n"
    assert prompts.embed_instruction("") == "<|embed|>\n"
    assert prompts.embed_instruction("Find it") == "<|user|>\nFind it\n<|embed|>\n"


def test_chat_single_and_multi_turn() -> None:
    assert prompts.chat("Hi?") == "<|user|>\nHi?\n<|assistant|>\n"
    history = [Turn("Q1", "A1"), Turn("Q2", "A2")]
    assert prompts.chat("Q3", history) == (
        "<|user|>\nQ1\n<|assistant|>\nA1</s>\n"
        "<|user|>\nQ2\n<|assistant|>\nA2</s>\n"
        "<|user|>\nQ3\n<|assistant|>\n"
    )


def test_rag_layouts_match_grit() -> None:
    q, d = "QUESTION", "DOC"
    none = prompts.rag("none", q, [d])
    assert none == [Segment(
        "<|user|>\nDOC\n\nQUESTION\n\nAnswer the prior query while optionally using the context "
        "prior to it\n<|assistant|>\n", bos=True, cached=False, role="prompt")]
    doc = prompts.rag("doc", q, [d])
    assert [(s.text, s.bos, s.cached) for s in doc] == [
        ("<|embed|>\nDOC", True, True),
        ("\n<|user|>\nQUESTION\n\nAnswer the prior query while optionally using the context "
         "prior to it\n<|assistant|>\n", False, False),
    ]
    query = prompts.rag("query", q, [d])
    assert [(s.text, s.bos, s.cached) for s in query] == [
        ("<|embed|>\nQUESTION", True, True),
        ("\n<|user|>\nDOC\n\nOptionally using the prior context answer the query prior to it\n"
         "<|assistant|>\n", False, False),
    ]
    qd = prompts.rag("query-doc", q, [d])
    assert [(s.text, s.bos, s.cached) for s in qd] == [
        ("<|embed|>\nQUESTION", True, True),
        ("\n<|embed|>\nDOC", False, True),
        ("\n<|user|>\nOptionally using the prior context answer the query prior to it\n"
         "<|assistant|>\n", False, False),
    ]
    dq = prompts.rag("doc-query", q, [d])
    assert [(s.text, s.bos, s.cached) for s in dq] == [
        ("<|embed|>\nDOC", True, True),
        ("<|embed|>\nQUESTION", True, True),
        ("\n<|user|>\nAnswer the prior query while optionally using the context prior to it\n"
         "<|assistant|>\n", False, False),
    ]


def test_rag_with_several_docs_keeps_their_order() -> None:
    segs = prompts.rag("doc", "q", ["A", "B", "C"])
    assert [s.text for s in segs if s.role == "doc"] == ["<|embed|>\nA", "<|embed|>\nB", "<|embed|>\nC"]
    assert "A\n\nB\n\nC\n\nq" in prompts.rag("none", "q", ["A", "B", "C"])[0].text


def test_neutralize_breaks_special_tokens_only() -> None:
    text = "end</s> start<s> keep <|user|>"
    out = prompts.neutralize(text, ["<s>", "</s>"])
    assert "</s>" not in out and "<s>" not in out
    assert out == "end< /s> start< s> keep <|user|>"
