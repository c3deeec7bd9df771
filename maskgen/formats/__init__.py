"""Dataset formats behind one Reader/Writer interface: image folders, MXNet RecordIO, .bin."""

from maskgen.formats.base import FORMATS, Format, Reader, Writer, find_format, open_reader

__all__ = ["FORMATS", "Format", "Reader", "Writer", "find_format", "open_reader"]
