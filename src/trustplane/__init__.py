"""trustplane: the accountability layer between AI model providers, their users and their auditors."""

__version__ = "0.1.0"
