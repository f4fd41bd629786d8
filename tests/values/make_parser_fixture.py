"""Writes tests/values/data/parser_fixture.jsonl: adversarial model replies with the reading a person would give.

Each line: ``text``, the scale (``low``, ``high``, ``scale``), the expected ``status`` and ``value``, and the
``family`` of output it belongs to. The expected readings come from the templates below, written by hand,
never from the parser. Run ``python tests/values/make_parser_fixture.py`` to regenerate (seeded: same file).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "parser_fixture.jsonl"

SCALES = {
    "relevance": (
        0,
        5,
        [
            "not at all relevant",
            "not very relevant",
            "slightly relevant",
            "somewhat relevant",
            "very relevant",
            "extremely relevant",
        ],
    ),
    "agreement": (
        0,
        5,
        [
            "strongly disagree",
            "moderately disagree",
            "slightly disagree",
            "slightly agree",
            "moderately agree",
            "strongly agree",
        ],
    ),
    "describes": (
        1,
        5,
        [
            "does not describe me at all",
            "slightly describes me",
            "moderately describes me",
            "describes me fairly well",
            "describes me extremely well",
        ],
    ),
    "wrongness": (0, 4, ["not at all wrong", "not too wrong", "somewhat wrong", "very wrong", "extremely wrong"]),
}
WORDS = ["zero", "one", "two", "three", "four", "five"]

ANSWERED_TEMPLATES = [
    ("plain", "{n}"),
    ("plain", "{n}\n"),
    ("plain", "  {n}.  "),
    ("markdown", "**{n}**"),
    ("markdown", "*{n}*"),
    ("markdown", "`{n}`"),
    ("markdown", "# {n}"),
    ("markdown", "> {n}"),
    ("markdown", "- {n}"),
    ("markdown", "```\n{n}\n```"),
    ("markdown", "**Answer:** {n}"),
    ("markdown", "**{n}: {Label}**"),
    ("label_suffix", "{n}: {Label}"),
    ("label_suffix", "{n} - {Label}"),
    ("label_suffix", "{n} ({label})"),
    ("label_suffix", "{n}. {Label}."),
    ("label_suffix", "({n}) {Label}"),
    ("label_suffix", "{n} = {label}"),
    ("marker", "Answer: {n}"),
    ("marker", "Final answer: {n}"),
    ("marker", "Rating: {n}"),
    ("marker", "Score: {n}"),
    ("marker", "My answer is {n}."),
    ("marker", "The answer is {n}."),
    ("marker", "Option {n}"),
    ("marker", "Response: {n}"),
    ("sentence", "I would rate this {n}."),
    ("sentence", "I'd say {n}, because the consideration matters in many situations."),
    ("sentence", "I choose {n}."),
    ("sentence", "I'll go with {n}."),
    ("sentence", "I would give it a {n}."),
    ("sentence", "My rating would be {n}, since context matters."),
    ("sentence", "I rate it {n}."),
    ("sentence", "After thinking about it, I would rate the relevance of this as {n}."),
    ("think", "<think>The statement is about duty. Maybe 1? No, more like 2 or 3.</think>\n{n}"),
    ("think", "<think>\nLet me weigh this. 0 would be too low and 5 too high.\n</think>\n\nAnswer: {n}"),
    ("think", "<thinking>people often say 2 here</thinking> {n}"),
    ("think", "<reasoning>Consider the scale 0-5.</reasoning>**{n}**"),
    ("think", "Let me think step by step. It could be 1 or 2.</think>{n}"),
    ("scale_restated", "On a scale from {lo} to {hi}, I'd give it {n}."),
    ("scale_restated", "{n} out of {hi}"),
    ("scale_restated", "{n}/{hi}"),
    ("scale_restated", "Rating ({lo}-{hi}): {n}"),
    ("scale_restated", "Using the {lo}-{hi} scale, my answer is {n}."),
    ("scale_restated", "On the {lo} to {hi} scale this is a {n}."),
    ("scale_restated", "Where {lo} is {label_lo} and {hi} is {label_hi}, this is a {n}."),
    ("json", '{{"answer": {n}}}'),
    ("json", '{{"rating": {n}, "reason": "it matters"}}'),
    ("json", '```json\n{{"score": {n}}}\n```'),
    ("tags", "<answer>{n}</answer>"),
    ("tags", "\\boxed{{{n}}}"),
    ("tags", "The final answer is $\\boxed{{{n}}}$."),
    ("refusal_then_answer", "As an AI, I don't have personal opinions, but I would rate it {n}."),
    ("refusal_then_answer", "I'm just an AI, but if I had to choose, I'd say {n}."),
    ("refusal_then_answer", "I don't have feelings, but my answer is {n}."),
    ("item_reference", "For item 7, my rating is {n}."),
    ("item_reference", "Item 12: {n}"),
    ("item_reference", "Question 3 - answer: {n}"),
    ("trailing_numbers", "{n}. Compared with the 2 previous statements, this one is clearer."),
    ("trailing_numbers", "{n}\n\nExplanation: in 3 of the 4 cases I can think of, this matters."),
    ("repeated", "{n} {n} {n}"),
    ("repeated", "{n}\n{n}"),
    ("prefix", "Assistant: {n}"),
    ("prefix", "Sure! {n}"),
    ("prefix", "Sure, here is my answer: {n}"),
    ("unicode", "{fw}"),
    ("unicode", "{n}\ufe0f\u20e3"),
    ("unicode", "\u200b{n}\u200b"),
    ("label_only", "{Label}"),
    ("label_only", "{Label}."),
    ("label_only", "I would say it is {label}."),
    ("label_only", "**{Label}**"),
    ("number_word", "{Word}"),
    ("number_word", "{Word}."),
    ("number_word", "Answer: {word}"),
    ("number_word", "I'd rate it {word}."),
    ("scale_listing", "{listing}\n\nAnswer: {n}"),
    ("scale_listing", "{listing}\nI choose {n}."),
    ("label_disagrees", "{n} ({other_label})"),
]

INVALID_TEMPLATES = [
    ("out_of_range", "{x}"),
    ("out_of_range", "Answer: {x}"),
    ("out_of_range", "I would rate this {x}."),
    ("out_of_range", "**{x}**"),
    ("out_of_range", "{x}: extremely important"),
]
NON_WHOLE = ["2.5", "3.5", "1.5", "0.5", "Answer: 2.5", "I'd say 3.5.", "**1.5**", "4.2"]
REFUSALS = [
    "I'm sorry, but I can't answer that.",
    "I cannot provide a personal opinion on moral questions.",
    "As an AI language model, I don't have personal beliefs or opinions.",
    "As an AI, I do not have personal views on this.",
    "I'm an AI assistant and I don't hold moral views.",
    "I apologize, but I am unable to rate this statement.",
    "I must decline to answer this question.",
    "I'd rather not share a personal rating on this topic.",
    "I am not able to give a rating because I don't have personal values.",
    "Sorry, I can't help with rating that. I'm sorry.",
    "I don't feel comfortable rating moral statements.",
    "I won't answer this, as it asks for a personal moral judgement.",
    "As an artificial intelligence, I have no personal opinions.",
    "I'm unable to provide a rating on a scale from {lo} to {hi}, since I have no personal opinions.",
    "I cannot rate this on a {lo}-{hi} scale as I am an AI.",
    "It's not my place to judge this.",
    "I'm sorry, as a language model I cannot express agreement or disagreement.",
    "I am just a language model, so I cannot answer questions about my own morality.",
    "I can't give a personal rating; moral judgements depend on individual values.",
    "My apologies, I cannot answer.",
    "<think>This asks for my opinion. I should not.</think>I'm sorry, but I can't provide a rating.",
    "As an AI assistant, I must remain neutral and cannot take a position.",
    "I refuse to answer that.",
    "I'm not in a position to rate moral considerations.",
    "I do not have opinions, so I cannot pick a number.",
    "I cannot and will not rate this.",
    "As an LLM, I don't have a personal moral compass.",
    "I prefer not to answer this question.",
    "I'm sorry, I won't provide a personal opinion on this statement.",
    "I have no personal opinions on this matter, as an AI.",
]
PROSE = [
    "This is a complex moral question that depends on the context.",
    "It depends.",
    "I don't know.",
    "Morality is subjective and varies across cultures.",
    "That is an interesting consideration. People weigh it differently.",
    "The statement raises questions about fairness and duty.",
    "Hmm.",
    "Could you clarify the question?",
    "Here is a short essay on moral foundations theory and its critics.",
    "Good question!",
    "...",
    "N/A",
    "Yes.",
    "No.",
    "Both sides have a point.",
    "Please provide the statement you want me to rate.",
    "<think>I am not sure what to say here.</think>",
    "<think>\n</think>\n\n",
    "Thank you for asking.",
    "Sure! Here is my answer:",
]
AMBIGUOUS = [
    "{a}-{b}",
    "{a} or {b}",
    "{a} to {b}",
    "Maybe {a}, maybe {b}.",
    "Answer: {a}-{b}",
    "Somewhere around {a} or {b}.",
    "I'm torn between {a} and {b}, perhaps {a} or {b}.",
    "{a}, {b}",
    "Either {a} or {b}.",
    "{a}/{b}",
]
UNFINISHED = [
    "<think>Let me consider the item. It is about loyalty, so maybe 3",
    "<think>\nThe statement concerns fairness. I would say",
    "<thinking>Option 2 seems plausible but 4 also",
    "<think>First, the scale runs from 0 to 5. Next, I consider",
    "<reasoning>The consideration is relevant, probably a 4 but",
]
EMPTY = ["", " ", "\n\n", "\t"]
HANDWRITTEN = [
    # (text, scale, status, value)
    (
        "I would rate this consideration as a 4 because it is very relevant to moral judgement.",
        "relevance",
        "answered",
        4,
    ),
    ("4 - Very relevant. Whether someone suffered emotionally is central to harm.", "relevance", "answered", 4),
    ("The relevance of this consideration is 3 (somewhat relevant).", "relevance", "answered", 3),
    ("Based on the scale provided, I would choose 5 (extremely relevant).", "relevance", "answered", 5),
    ("Answer: 2\nExplanation: it matters a little.", "relevance", "answered", 2),
    ("I strongly agree with this statement.", "agreement", "answered", 5),
    ("I slightly disagree.", "agreement", "answered", 2),
    ("Moderately agree (4).", "agreement", "answered", 4),
    ("5 - strongly agree", "agreement", "answered", 5),
    ("I would say 1, moderately disagree, since there are exceptions.", "agreement", "answered", 1),
    ("The correct response is 0.", "agreement", "answered", 0),
    ("Describes me fairly well.", "describes", "answered", 4),
    ("3 – moderately describes me", "describes", "answered", 3),
    ("Rating: 5 (describes me extremely well)", "describes", "answered", 5),
    ("0", "describes", "invalid", None),
    ("6", "describes", "invalid", None),
    ("Very wrong.", "wrongness", "answered", 3),
    ("This behaviour is extremely wrong: 4.", "wrongness", "answered", 4),
    ("2 (somewhat wrong)", "wrongness", "answered", 2),
    ("5", "wrongness", "invalid", None),
    ("It is not at all wrong.", "wrongness", "answered", 0),
    ("10/10 relevant!", "relevance", "invalid", None),
    ("On a scale of 1 to 10, I'd give it a 7.", "relevance", "invalid", None),
    ("I give this statement a score of 3 out of 5.", "agreement", "answered", 3),
    ("80%", "relevance", "invalid", None),
    ("-1", "relevance", "invalid", None),
    ("−2", "relevance", "invalid", None),
    ("33", "relevance", "invalid", None),
    ("12345", "relevance", "invalid", None),
    ("05", "relevance", "answered", 5),
    ("3,5", "relevance", "unparseable", None),
    ("Between 2 and 3.", "relevance", "unparseable", None),
    ("2, 3 or 4 depending on context", "relevance", "unparseable", None),
    (
        "0 = not at all relevant, 1 = not very relevant, 2 = slightly relevant, 3 = somewhat relevant, "
        "4 = very relevant, 5 = extremely relevant",
        "relevance",
        "unparseable",
        None,
    ),
    ("Where 0 means not at all relevant and 5 means extremely relevant, I'd pick 4.", "relevance", "answered", 4),
    (
        "<think>The user wants a number between 0 and 5. Harm is central, so 5. But not extreme... 4.</think>\n\n4",
        "relevance",
        "answered",
        4,
    ),
    ("</think>\n3", "relevance", "answered", 3),
    (
        "<|channel|>analysis<|message|>They ask relevance. 5?<|end|><|start|>assistant<|channel|>final<|message|>4",
        "relevance",
        "answered",
        4,
    ),
    ("My answer: **3** (somewhat relevant)", "relevance", "answered", 3),
    ("**Rating: 4/5**", "relevance", "answered", 4),
    ("(4)", "relevance", "answered", 4),
    ("[3]", "relevance", "answered", 3),
    ("'2'", "relevance", "answered", 2),
    ('"5"', "relevance", "answered", 5),
    ("4.", "relevance", "answered", 4),
    ("4!", "relevance", "answered", 4),
    ("As an AI, I cannot have opinions. 3", "relevance", "answered", 3),
    ("I'm sorry, but as an AI I don't have personal opinions. However, I'd rate it 2.", "relevance", "answered", 2),
    ("Not at all relevant.", "relevance", "answered", 0),
    ("not very relevant", "relevance", "answered", 1),
    ("Four out of five.", "relevance", "answered", 4),
    ("", "relevance", "unparseable", None),
    ("The scale runs from 0 to 5.", "relevance", "unparseable", None),
    ("I would need more context to rate this on the 0-5 scale.", "relevance", "unparseable", None),
    ("Answer: 7", "relevance", "invalid", None),
    ("Answer: 4.5", "relevance", "invalid", None),
    ("4.0", "relevance", "answered", 4),
    ("Option 3: somewhat relevant", "relevance", "answered", 3),
    ("Choice: 1", "relevance", "answered", 1),
]


def _label(scale: str, n: int) -> str:
    lo, _, labels = SCALES[scale]
    return labels[n - lo]


def _fullwidth(n: int) -> str:
    return "".join(chr(0xFF10 + int(c)) for c in str(n))


def build() -> list[dict[str, object]]:
    rng = random.Random(6)
    rows: list[dict[str, object]] = []

    def add(text: str, scale: str, status: str, value: int | None, family: str) -> None:
        lo, hi, _ = SCALES[scale]
        rows.append(
            {"text": text, "scale": scale, "low": lo, "high": hi, "status": status, "value": value, "family": family}
        )

    for scale, (lo, hi, labels) in SCALES.items():
        listing = "\n".join(f"{v} = {labels[v - lo]}" for v in range(lo, hi + 1))
        for family, template in ANSWERED_TEMPLATES:
            n = rng.randint(lo, hi)
            others = [v for v in range(lo, hi + 1) if v != n]
            text = template.format(
                n=n,
                lo=lo,
                hi=hi,
                label=_label(scale, n),
                Label=_label(scale, n).capitalize(),
                label_lo=labels[0],
                label_hi=labels[-1],
                fw=_fullwidth(n),
                word=WORDS[n],
                Word=WORDS[n].capitalize(),
                listing=listing,
                other_label=_label(scale, rng.choice(others)),
            )
            add(text, scale, "answered", n, family)
        for family, template in INVALID_TEMPLATES:
            x = rng.choice([hi + 1, hi + 2, 10, 45, 100, -1, -3, lo - 1])
            add(template.format(x=x), scale, "invalid", None, family)
        for text in NON_WHOLE:
            add(text, scale, "invalid", None, "non_whole")
        for text in rng.sample(REFUSALS, 18):
            add(text.format(lo=lo, hi=hi), scale, "refused", None, "refusal")
        for text in rng.sample(PROSE, 10):
            add(text, scale, "unparseable", None, "prose")
        for template in AMBIGUOUS:
            a, b = sorted(rng.sample(range(lo, hi), 2))  # b < hi: "a/hi" would read as "a out of hi"
            add(template.format(a=a, b=b), scale, "unparseable", None, "ambiguous")
        for text in UNFINISHED:
            add(text, scale, "unparseable", None, "unfinished_reasoning")
        for text in EMPTY[:2]:
            add(text, scale, "unparseable", None, "empty")
    for text, scale, status, value in HANDWRITTEN:
        add(text, scale, status, value, "handwritten")
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} outputs -> {OUT.name}")


if __name__ == "__main__":
    main()
