"""The search spaces of ganas, one module per backbone with the networks it builds from genotypes. Importing the
package loads every backbone, which also registers the former names snapshots call their moved classes by."""

from nas.backbones import conventional
from nas.backbones import stylegan2
