"""How the analytics' stored values read on pages (English; translated where shown): the kinds
of MRR movement, on the Analytics page and on a subscription's record panel alike."""

from __future__ import annotations

from cadency.analytics.models import (
    MRR_CHURNED,
    MRR_CONTRACTION,
    MRR_EXPANSION,
    MRR_NEW,
    MRR_REACTIVATED,
)
from cadency.kit.i18n import N_

# In the order the Analytics page stacks them: what adds MRR, then what takes it away.
MOVEMENT_KINDS = {
    MRR_NEW: N_("New"),
    MRR_EXPANSION: N_("Expansion"),
    MRR_REACTIVATED: N_("Reactivated"),
    MRR_CONTRACTION: N_("Contraction"),
    MRR_CHURNED: N_("Churned"),
}
# A cancellation without a reason given (the service reports it as "unknown").
UNKNOWN_REASON = N_("No reason given")
