"""The shapes of KushRouter's data: the generation record, its token usage, and the id rules. Pure."""
