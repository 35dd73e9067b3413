"""The search spaces of ganas, one module per backbone (conventional, stylegan2, autogan), each registering its
Backbone (nas/backbones/base.py) and holding the networks it builds from genotypes. Importing the package loads
every backbone, which also registers the former names snapshots call their moved classes by."""

from nas.backbones import autogan
from nas.backbones import conventional
from nas.backbones import stylegan2
from nas.backbones.base import by_search_class, get, names
