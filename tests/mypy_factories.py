"""A mypy plugin: calling a factory_boy factory gives the model it builds.

`UserFactory(...)` runs `UserFactory.create(...)` through factory_boy's metaclass, and the tests
use that short form everywhere. factory_boy types `create()` as the model of a factory declared
`DjangoModelFactory[User]`, but mypy reads the bare call as an instance of the factory class (it
honours neither the metaclass's `__call__` nor a `__new__` returning another type). This hook
gives the call the type `create()` has, so a test's records are checked as the models they are.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.maptype import map_instance_to_supertype
from mypy.nodes import TypeInfo
from mypy.plugin import FunctionContext, Plugin
from mypy.types import Instance, Type, get_proper_type

BASE_FACTORY = "factory.base.BaseFactory"


def _built_model(ctx: FunctionContext) -> Type:
    made = get_proper_type(ctx.default_return_type)
    if not isinstance(made, Instance):
        return ctx.default_return_type
    base = next((info for info in made.type.mro if info.fullname == BASE_FACTORY), None)
    if base is None:
        return ctx.default_return_type
    return map_instance_to_supertype(made, base).args[0]


class FactoryCallPlugin(Plugin):
    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        symbol = self.lookup_fully_qualified(fullname)
        if (
            symbol is not None
            and isinstance(symbol.node, TypeInfo)
            and symbol.node.fullname != BASE_FACTORY
            and symbol.node.has_base(BASE_FACTORY)
        ):
            return _built_model
        return None


def plugin(version: str) -> type[Plugin]:
    return FactoryCallPlugin
