"""The Neural Pin firmware: the C core (``firmware/core``), its slab layout and its host twin."""
