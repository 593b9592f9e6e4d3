"""Data: the shipped real data sets (MNIST-10k, MNIST-1D, SpamAssassin), synthetic tasks and batching."""
from .errors import DataFileError
from .files import find
from .loader import BatchIterator
from .mnist import load_mnist, read_mnist
from .mnist1d import load_mnist1d, read_mnist1d
from .split import stratified_split
from .synthetic import gaussian_clusters, marker_sequences, spirals
from .text import CLS, MASK, PAD, UNK, WordTokenizer, load_spam, read_spam_corpus, words

__all__ = ["find", "DataFileError", "BatchIterator", "load_mnist", "read_mnist", "load_mnist1d", "read_mnist1d", "load_spam", "read_spam_corpus", "WordTokenizer",
           "words", "stratified_split", "gaussian_clusters", "spirals", "marker_sequences",
           "PAD", "UNK", "CLS", "MASK"]
