"""What a sample says about the whole: an exact one-sided upper confidence bound on the share of
false signatures, given how many of a random sample proved false (Clopper-Pearson).

The bound is the share p at which finding so few false signatures would be as unlikely as the
confidence allows: P(X <= found) = 1 - confidence for X ~ Binomial(size, p). A sample drawn
without replacement from a finite count (hypergeometric) varies less than the binomial, so the
bound is conservative for it. A small exact computation, bisection on the binomial tail, rather
than a statistics library: scipy would bring numpy and some 100 MB for one function.
"""

import math

CONFIDENCE = 0.95


def binomial_cdf(found: int, size: int, share: float) -> float:
    """P(X <= found) for X ~ Binomial(size, share), summed in logarithms so that large samples
    neither overflow nor underflow term by term."""
    if share <= 0.0:
        return 1.0
    if share >= 1.0:
        return 1.0 if found >= size else 0.0
    log_share, log_rest = math.log(share), math.log1p(-share)
    log_n = math.lgamma(size + 1)
    return math.fsum(
        math.exp(
            log_n
            - math.lgamma(j + 1)
            - math.lgamma(size - j + 1)
            + j * log_share
            + (size - j) * log_rest
        )
        for j in range(found + 1)
    )


def upper_bound(found: int, size: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper bound on the share of false signatures when ``found``
    of a random sample of ``size`` proved false; ValueError for impossible counts."""
    if size <= 0:
        raise ValueError("a sample has at least one signature")
    if not 0 <= found <= size:
        raise ValueError(f"between 0 and {size} of a sample of {size} can prove false")
    if not 0.0 < confidence < 1.0:
        raise ValueError("the confidence is a share strictly between 0 and 1")
    risk = 1.0 - confidence
    if found == size:
        return 1.0
    if found == 0:
        # The closed form: (1 - p)^size = risk.
        return 1.0 - risk ** (1.0 / size)
    # The tail falls as the share grows; halve the interval until the floats run out, keeping
    # the upper end so the bound never understates.
    low, high = 0.0, 1.0
    while True:
        middle = (low + high) / 2
        if middle in (low, high):
            return high
        if binomial_cdf(found, size, middle) > risk:
            low = middle
        else:
            high = middle


def rule_of_three(size: int) -> float:
    """The rough bound 3/size for none found at 95% (-ln 0.05 is about 3)."""
    return 3.0 / size
