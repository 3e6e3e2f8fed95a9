"""Check that YAML files parse (the pre-commit hook `check-yaml`): every document of each file
named on the command line, with Compose's merge tags (`!override`, `!reset`) and any other
local tag accepted as plain values. Prints one line per broken file; exits 1 if any."""

from __future__ import annotations

import sys

import yaml


class Loader(yaml.SafeLoader):
    """The safe loader, taking an unknown local tag (`!override`) for its untagged value."""


def _untagged(loader: Loader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


Loader.add_multi_constructor("!", _untagged)


def main(paths: list[str]) -> int:
    broken = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as file:
                for _ in yaml.load_all(file, Loader=Loader):
                    pass
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            print(f"{path}: {' '.join(str(error).split())}", file=sys.stderr)
            broken += 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
