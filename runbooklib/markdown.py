"""The small Markdown our remedies and diagnoses are written in, as HTML: paragraphs, `- ` lists, code spans
and links to http(s) pages. Everything else is escaped, so text that came from the network can never become
markup, and nothing is set in a `<pre>` that would break words mid-line."""

from __future__ import annotations

import html
import re

_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def md_inline(text: str) -> str:
    """Code spans and links as HTML, the rest escaped; an unbalanced backtick is kept as text."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # odd number of backticks: not code spans
        parts = [str(text)]
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        pos, chunk = 0, []
        for m in _LINK.finditer(part):
            chunk.append(html.escape(part[pos:m.start()]))
            chunk.append(f'<a href="{html.escape(m.group(2))}">{html.escape(m.group(1))}</a>')
            pos = m.end()
        chunk.append(html.escape(part[pos:]))
        out.append("".join(chunk))
    return "".join(out)


def md_block(text: str) -> str:
    """Paragraphs (blank-line separated; single newlines kept as breaks), `- ` / `* ` bullet lists and
    fenced code blocks (```), the one place where text keeps its lines and spaces."""
    blocks: list[str] = []
    para: list[str] = []
    items: list[str] = []
    fence: list[str] | None = None

    def flush() -> None:
        if para:
            blocks.append("<p style=\"margin:2px 0\">" + "<br>".join(md_inline(x) for x in para) + "</p>")
            para.clear()
        if items:
            blocks.append('<ul style="margin:2px 0;padding-left:20px">'
                          + "".join(f"<li>{md_inline(x)}</li>" for x in items) + "</ul>")
            items.clear()

    for raw in str(text).splitlines():
        line = raw.strip()
        if fence is not None:
            if line.startswith("```"):
                blocks.append('<pre style="margin:2px 0;padding:4px 8px;background:#f6f8fa;overflow:auto"><code>'
                              + html.escape("\n".join(fence)) + "</code></pre>")
                fence = None
            else:
                fence.append(raw.rstrip())
            continue
        if line.startswith("```"):
            flush()
            fence = []
            continue
        if not line:
            flush()
        elif line.startswith(("- ", "* ")):
            if para:
                flush()
            items.append(line[2:])
        elif items and raw.startswith(("  ", "\t")):
            items[-1] += " " + line  # a wrapped list item
        else:
            if items:
                flush()
            para.append(line)
    flush()
    if fence is not None:  # an unclosed fence: keep what it held, as code
        blocks.append("<pre><code>" + html.escape("\n".join(fence)) + "</code></pre>")
    return "".join(blocks)
