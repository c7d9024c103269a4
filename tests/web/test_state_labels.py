"""Every petition state has its labels, in the one table every page takes them from."""

from petitions.db.models import PetitionState
from petitions.web.state_labels import LONG_LABELS, SHORT_LABELS, STATE_LABELS


def test_every_state_has_a_label():
    assert set(STATE_LABELS) == set(PetitionState)
    for state in PetitionState:
        assert STATE_LABELS[state].short
        assert STATE_LABELS[state].long
        # Templates look labels up by the state as the database holds it: a plain string.
        assert SHORT_LABELS[state.value] == STATE_LABELS[state].short
        assert LONG_LABELS[state.value] == STATE_LABELS[state].long
