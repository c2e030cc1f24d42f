#!/usr/bin/env python3
"""The King James Bible (Debian's bible-kjv: `bible -f gen1:1-rev22:21`) as
a character corpus, split by book: every 8th book (the 8th, 16th, ...; 8 of
the 66) is held out, the rest is for training. Verse references are dropped
(one verse per line). A held-out verse that also occurs verbatim in a
training book (the parallel passages of Kings and Chronicles, say) is
dropped from the held-out text, so that no held-out line was ever trained
on.

    make_corpus.py OUT_DIR          writes train.txt, heldout.txt, split.txt
    make_corpus.py --check OUT_DIR  checks that no held-out line is in
                                    train.txt and the split is by book
"""
import os
import re
import subprocess
import sys

REFERENCE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def books():
    """[(book, [verse text, ...])] in canonical order."""
    text = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], check=True,
                          capture_output=True, text=True).stdout
    found = []
    for line in text.splitlines():
        match = REFERENCE.match(line)
        if not match:
            continue
        if not found or found[-1][0] != match.group(1):
            found.append((match.group(1), []))
        found[-1][1].append(match.group(4))
    return found


def write(out):
    os.makedirs(out, exist_ok=True)
    all_books = books()
    held = [i for i in range(len(all_books)) if i % 8 == 7]
    train = [v for i, (_, verses) in enumerate(all_books) if i not in held
             for v in verses]
    seen = set(train)
    held_out = [v for i in held for v in all_books[i][1] if v not in seen]
    dropped = sum(len(all_books[i][1]) for i in held) - len(held_out)
    with open(os.path.join(out, "train.txt"), "w") as f:
        f.write("\n".join(train) + "\n")
    with open(os.path.join(out, "heldout.txt"), "w") as f:
        f.write("\n".join(held_out) + "\n")
    with open(os.path.join(out, "split.txt"), "w") as f:
        f.write("held-out books: " +
                " ".join(all_books[i][0] for i in held) + "\n")
        f.write(f"{len(all_books)} books; {len(train)} training verses, "
                f"{len(held_out)} held-out verses ({dropped} held-out "
                "verses dropped: also in a training book)\n")
    print(open(os.path.join(out, "split.txt")).read(), end="")


def check(out):
    train = set(open(os.path.join(out, "train.txt")).read().splitlines())
    held = open(os.path.join(out, "heldout.txt")).read().splitlines()
    overlap = [v for v in held if v in train]
    chars = set("".join(held)) - set("".join(train))
    print(f"held-out lines {len(held)}, also in training {len(overlap)}, "
          f"characters training lacks {len(chars)}")
    return 0 if not overlap and not chars and held else 1


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    write(sys.argv[1])
