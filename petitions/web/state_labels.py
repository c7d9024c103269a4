"""What the pages call each petition state: one table for every page."""

from dataclasses import dataclass

from petitions.db.models import PetitionState


@dataclass(frozen=True)
class StateLabel:
    """A state's two labels: ``short`` on a badge (the public pages and the dashboard), ``long``
    on a petition's settings and confirmation pages, which also say what it means for signing."""

    short: str
    long: str


STATE_LABELS = {
    PetitionState.DRAFT: StateLabel("Draft: not open for signing", "Draft: not public yet"),
    PetitionState.OPEN: StateLabel("Open for signing", "Open for signing"),
    PetitionState.TRIGGERED: StateLabel(
        "Threshold reached: vote triggered",
        "Threshold reached: vote triggered, signing goes on",
    ),
    PetitionState.CLOSED: StateLabel("Closed", "Closed"),
}
# The same labels as plain mappings, for templates that look a petition's state up.
SHORT_LABELS = {state: label.short for state, label in STATE_LABELS.items()}
LONG_LABELS = {state: label.long for state, label in STATE_LABELS.items()}
