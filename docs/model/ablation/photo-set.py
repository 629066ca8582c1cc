"""The ablation's photo set: the first 9,270 photos of the fixed shuffle (shards 0+1), centre squares
at 224 px (every row resizes to its own render size), and the held-back 2 % copied to their own folder."""
import shutil, sys
from pathlib import Path
from PIL import Image
import numpy as np
sys.path.insert(0, "/work/main")
from model.training.feature_cache import shuffled_photos
from model.training.data import decode_square, is_val
from model.metrics import colorfulness
root = Path("/work/shared/data/train") if Path("/work/shared/data/train").exists() else Path("../shared/data/train").resolve()
out, held = Path("/var/tmp/heirloom-runs/abl/photos"), Path("/var/tmp/heirloom-runs/abl/heldback")
files = shuffled_photos(root)[:9270]
n = h = 0
for rel in files:
    arr, cf = decode_square(root / rel, 224)
    if arr is None:
        continue
    dst = out / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(dst.with_suffix(".jpg"), quality=92)
    n += 1
    if is_val(str(Path(rel).with_suffix(".jpg")), 0.02) and colorfulness(arr) >= 10:
        d2 = held / rel
        d2.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dst.with_suffix(".jpg"), d2.with_suffix(".jpg"))
        h += 1
print(n, "photos", h, "held back")
