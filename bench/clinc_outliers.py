"""Out-of-scope sentences from other public data, for CLINC150's OOS class.

Outlier exposure (Hendrycks, Mazeika, Dietterich 2019): a classifier with an
out-of-scope class learns it from 100 sentences in CLINC150's `oos_train`;
this writes a copy of `data_full.json` with more of them in `oos_train`:

- `sgd`: 1,000 first user turns of the Schema-Guided Dialogue entertainment
  services' *train* split (finding events, films and music; PlaySong and
  PlayMedia left out, since CLINC150 has a `play_music` intent);
- `mix` (the default): those 1,000 and 1,000 GoEmotions *train* comments
  (Reddit, 4-25 words, none with a `[NAME]`-style mask).

Lower-cased and whitespace-normalised like CLINC150, shuffled with seed 42.
Nothing comes from CLINC150, so neither its val nor its test split is read.

    python3 bench/clinc_outliers.py ../shared/data mix > /tmp/clinc_mix.json
    usher test nlu --data /tmp/clinc_mix.json --format clinc150 --oos-recall 0.85 \
        --save-probabilities --report /tmp/clinc_mix --json
    python3 bench/oos_scores.py /tmp/clinc_mix/parts.json
"""
import json
import random
import sys


def sgd_first_turns(data):
    turns = (json.loads(line) for line in open(f"{data}/sgd_entertainment/train_turns.jsonl"))
    return sorted({t["text"] for t in turns if t["turn_index"] == 0 and t["active_intent"] not in ("PlaySong", "PlayMedia")})


def goemotions(data):
    texts = (line.split("\t")[0].strip() for line in open(f"{data}/goemotions/train.tsv"))
    return sorted({t for t in texts if 4 <= len(t.split()) <= 25 and "[" not in t})


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    kind = sys.argv[2] if len(sys.argv) > 2 else "mix"
    random.seed(42)
    sgd = sgd_first_turns(data)
    random.shuffle(sgd)
    comments = goemotions(data)
    random.shuffle(comments)
    chosen = {"sgd": sgd[:1000], "mix": sgd[:1000] + comments[:1000]}[kind]
    clinc = json.load(open(f"{data}/clinc150/data_full.json"))
    clinc["oos_train"] += [[" ".join(text.lower().split()), "oos"] for text in chosen]
    json.dump(clinc, sys.stdout)


if __name__ == "__main__":
    main()
