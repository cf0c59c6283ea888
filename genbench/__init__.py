"""genbench: VAE, GAN, DDPM and DDGAN on one harness: sample quality, mode coverage, sampling speed."""
__version__ = "0.1.0"


def first_line(e: BaseException) -> str:
    """The first line of an exception's message for a one-line error, or its type's name when the
    message is empty (a zero-byte checkpoint raises one with none)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
