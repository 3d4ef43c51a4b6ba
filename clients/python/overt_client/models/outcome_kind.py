from enum import StrEnum


class OutcomeKind(StrEnum):
    CALL_DECLINED = "call_declined"
    CALL_TAKEN = "call_taken"
    DEAL_LOST = "deal_lost"
    DEAL_WON = "deal_won"
    MEETING_BOOKED = "meeting_booked"
    REVENUE = "revenue"

    def __str__(self) -> str:
        return str(self.value)
