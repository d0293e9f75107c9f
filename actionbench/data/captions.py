"""Caption templates: ``text.json`` (ActionBench's and ReVersion's format) and the context they imply.

A template is a photo's caption with ``{}`` where the action goes ("Woman {} on an isolated
background."). The *context* is everything the photo shows besides the action, in words: the
template with the ``{}`` removed ("Woman on an isolated background."). ADI uses it to build the
action-different samples of its triples.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from actionbench.errors import ActionBenchError

TEXT_JSON = "text.json"
DEFAULT_TEMPLATE = "a photo of a person {}"
SLOT = "{}"


def context_from_template(template: str) -> str:
    """The template without its ``{}``, whitespace and the punctuation around the gap tidied.

    "Young happy man gets good idea, {}, being glad" -> "Young happy man gets good idea, being glad";
    "{} soldier on dark background" -> "soldier on dark background";
    "Studio shot of young happy businessman smiling and {}" -> "... businessman smiling".
    """
    text = template.replace(SLOT, " ")
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)  # "man , being" -> "man, being"
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)  # "idea,, being" -> "idea, being"
    text = text.strip(" ,;:")
    text = re.sub(r"\s+(and|or)$", "", text)  # "businessman smiling and {}" -> "businessman smiling"
    return text


def check_template(template: object, where: str) -> str:
    """A template must be text with exactly one ``{}``."""
    if not isinstance(template, str) or template.count(SLOT) != 1:
        raise ActionBenchError(f"the template {template!r} of {where} does not hold exactly one {{}}",
                               "write the caption with one {} where the action goes, e.g. \"a man {} on a beach\"")
    if "{" in template.replace(SLOT, "") or "}" in template.replace(SLOT, ""):
        raise ActionBenchError(f"the template {template!r} of {where} has a stray brace",
                               "keep only the one {} where the action goes")
    return " ".join(template.split())


def read_text_json(path: Path) -> dict[str, str]:
    """``{"01.jpg": ["template with {}", ...]}`` -> ``{"01.jpg": "template with {}"}`` (the first one)."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ActionBenchError(f"{path} is missing", "restore it (see docs/data-format.md)") from error
    except (ValueError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise ActionBenchError(f"{path} is not valid JSON ({reason})", "fix its syntax") from error
    if not isinstance(spec, dict):
        raise ActionBenchError(f"{path} does not map image files to templates",
                               "write {\"01.jpg\": [\"a man {} on a beach\"], ...}")
    templates = {}
    for image, entry in spec.items():
        if isinstance(entry, str):
            entry = [entry]
        if not isinstance(entry, list) or not entry:
            raise ActionBenchError(f"{path} gives no template for {image}",
                                   "write a list holding one caption with {} where the action goes")
        templates[image] = check_template(entry[0], f"{image} in {path}")
    return templates
