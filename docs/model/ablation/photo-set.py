"""The ablation's photo set: the first 9,270 photos of the fixed shuffle of ../shared/data/train (the
same photos as GPU shards 0 and 1), centre squares at 224 px (every row resizes to its own render size),
and the held-back 2 % (by file name, colourfulness >= 10) copied to their own folder for scoring.

    PYTHONPATH=. python docs/model/ablation/photo-set.py ../shared/data/train /var/tmp/heirloom-runs/abl [COUNT]

COUNT (default 9,270) photos of the shuffle; 18004 for the "all photos" row, whose held-back photos include these.
"""

import shutil
import sys
from pathlib import Path

from PIL import Image

from model.training.data import decode_square, is_val
from model.training.feature_cache import shuffled_photos
from model.training.metrics import colorfulness


def main(root: Path, dest: Path, count: int = 9270) -> None:
    out, held = dest / "photos", dest / "heldback"
    n = h = 0
    for rel in shuffled_photos(root)[:count]:
        arr, _ = decode_square(root / rel, 224)
        if arr is None:
            continue
        name = Path(rel).with_suffix(".jpg")
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(out / name, quality=92)
        n += 1
        if is_val(str(name), 0.02) and colorfulness(arr) >= 10:
            (held / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / name, held / name)
            h += 1
    print(n, "photos,", h, "held back")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(int(n) for n in sys.argv[3:4]))
