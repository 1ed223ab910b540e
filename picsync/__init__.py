"""picsync: de-identify, encrypt and mirror clinical photos from watched folders."""

__version__ = "0.1.0"
