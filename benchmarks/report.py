"""Plain-text tables for the benchmark's output."""


def table(headers, rows, right=None):
    """Columns padded to their widest cell; columns listed in `right` (indices) align right,
    the others left (default: all but the first align right). A cell that is None prints as
    '-'. With `headers` None, just the aligned rows."""
    if headers is None:
        cells = [["-" if c is None else str(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                         for r in cells)
    right = set(range(1, len(headers))) if right is None else set(right)
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def ratio(value):
    return None if value is None else f"{value:.2f}×"


def status(passed):
    return "PASS" if passed else "MISS"


def percent(value):
    return None if value is None else f"{100 * value:.0f}%"


def noise(*samples):
    """The largest spread among timing.Samples (None when each had a single round)."""
    spreads = [s.spread for s in samples if s is not None and s.spread is not None]
    return percent(max(spreads)) if spreads else None


def mib(n_bytes):
    return f"{n_bytes / 2**20:.2f} MiB"


def heading(text):
    return f"\n{text}\n{'=' * len(text)}"
