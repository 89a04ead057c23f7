"""The help pages, shipped in the package: one page per error code (``errors/``) and per DNS
diagnosis (``diagnosis/``), in Markdown.

They are what ``docs/errors`` and ``docs/diagnosis`` of the repository point to (symbolic
links), what the box's homepage serves at ``/box/errors/…`` and ``/box/diagnosis/…``, and what
the CLI's remedies refer to: one text for every place it is read. Tests check there is a page
for every entry of :mod:`boxcert.codes`.
"""
