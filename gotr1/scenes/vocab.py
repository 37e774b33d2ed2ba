"""The world's words: GenEval's 80 object classes (COCO names, in GenEval's ``object_names.txt`` order),
number words and the article/plural rules GenEval's prompts use ("an apple", "two buses", "two toothbrushs")."""

from __future__ import annotations

__all__ = ["GENEVAL_CLASSES", "NUMBER_WORDS", "article", "plural"]

GENEVAL_CLASSES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "computer mouse",
    "tv remote",
    "computer keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)

NUMBER_WORDS: dict[int, str] = {1: "one", 2: "two", 3: "three", 4: "four"}


def article(noun: str) -> str:
    """``"an"`` before a vowel, else ``"a"`` (GenEval: "an apple", "a umbrella" does not occur)."""
    return "an" if noun[:1] in "aeiou" else "a"


def plural(noun: str) -> str:
    """GenEval's plural: ``es`` after a final ``s`` ("buses", "wine glasses"), else ``s`` ("toothbrushs")."""
    return noun + "es" if noun.endswith("s") else noun + "s"
