#!/usr/bin/env python3
"""Writes the small text corpus of the language-model demo (corpus.txt).

Sentences from a tiny grammar about a village, deterministic (fixed seed),
so the corpus is reproducible and the project owes nothing to anyone's text.
Lower-case letters, spaces and '.', well under the model's 64 symbols.
usage: make_corpus.py [OUT] [SENTENCES]
"""
import random
import sys

SUBJECTS = ["the miller", "the baker", "a young fox", "the old owl",
            "the weaver", "a small boy", "the river", "the shepherd",
            "her sister", "the blacksmith", "a tired horse", "the children"]
VERBS = ["watched", "followed", "carried", "found", "painted", "greeted",
         "forgot", "remembered", "mended", "counted", "crossed", "praised"]
OBJECTS = ["the bridge", "a basket of apples", "the mill wheel",
           "the narrow road", "a blue lantern", "the winter field",
           "the bell tower", "a heavy stone", "the quiet market",
           "an empty cart", "the morning bread", "a wooden gate"]
TIMES = ["at dawn", "before the rain", "after supper", "in the evening",
         "all morning", "near midnight", "on market day", "at noon"]
JOINS = ["and then", "while", "because", "so"]


def sentence(rng):
    clause = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.5:
        clause += f" {rng.choice(TIMES)}"
    if rng.random() < 0.3:
        clause += (f" {rng.choice(JOINS)} {rng.choice(SUBJECTS)} "
                   f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}")
    return clause + "."


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus.txt"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    rng = random.Random(2022)
    with open(out, "w") as f:
        f.write(" ".join(sentence(rng) for _ in range(count)) + "\n")


if __name__ == "__main__":
    main()
