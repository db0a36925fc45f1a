"""The LaTeX form of a results table, shared by the run and sweep tables."""


def escape(text) -> str:
    """`text` with LaTeX's special characters of method and domain names
    escaped."""
    return str(text).replace("_", r"\_").replace("%", r"\%")


def table(caption, header, rows, footnote=None) -> str:
    """A booktabs `table`: one left column of names, then numbers.

    Args:
        caption: str, escaped here.
        header: list of str, the column titles (the first is the names'),
            escaped here.
        rows: list of (name, cells): the name is escaped here, the cells
            are LaTeX already.
        footnote: str or None, LaTeX, set small under the table.
    """
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{escape(caption)}}}",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [
        escape(name) + " & " + " & ".join(cells) + r" \\" for name, cells in rows
    ]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if footnote:
        lines.append(r"\par\smallskip{\footnotesize " + footnote + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines)
