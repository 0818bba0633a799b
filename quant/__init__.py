"""Pure numerics: float models, their fixed-point references, and the quantizers between them.

Nothing here does I/O; callers in ``toolkit`` read and write files.
"""
