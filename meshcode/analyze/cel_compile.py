"""CEL rules compiled into Python closures over plain JSON values: the fast path of `cel.CelRules`.

cel-python walks its lark parse tree for every evaluation (about a third of a millisecond for
the bundled CRDs' small rules, after converting the value to its CEL types). This compiles the
same parse tree, once per rule, into nested closures that read the loaded JSON value directly.

It is exact by construction, not by imitation: the closures cover only the constructs and
operand types whose result is certain (has(), field and index access, !, &&, ||, ?:, ==, !=,
<, <=, >, >=, in, + on ints and strings, size(), contains/startsWith/endsWith/matches, and
the all/exists/exists_one/filter macros over lists and maps). Anything else (another function,
a mixed-type comparison, an int overflow, a rule whose result is an error) raises `Fallback`,
and the caller evaluates the rule with cel-python as before, so verdicts and messages are
cel-python's. Where cel-python treats a missing map key as an error *value* (absorbed by
`false && …`, turned into false by has()), the closures carry the `ERROR` marker the same way.
A rule with an unsupported construct is not compiled at all (`compile_rule` returns None).
tests/test_cel_compile.py checks every bundled rule against cel-python on generated values.
"""
from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any, Callable

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
TREE_FORMAT = "plain-tree-1"  # names plain_tree's form: cached trees of another form are not read

Env = dict[str, Any]
Closure = Callable[[Env], Any]


class Fallback(Exception):
    """The fast path cannot be sure of this evaluation: cel-python decides."""


class Skipped(Exception):
    """cel-python's result would be an error its caller counts as an evaluator gap and skips
    (every error the closures carry reads "no such member" or "no … overload")."""


class Unsupported(Exception):
    """The rule uses a construct the compiler does not cover: it always runs on cel-python."""


class _Error:
    """A CEL error value (a missing map key), as cel-python carries it through an expression."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ERROR"


ERROR: Any = _Error()
_SCALARS = (str, int, float, bool)


def plain_tree(node: Any) -> Any:
    """cel-python's lark parse tree as plain lists, which JSON keeps: a node is [name, children],
    a token ["$TYPE", text], and a string, int or bool literal ["=", its value] (converted by
    cel-python, so escapes and bases mean what they mean to it)."""
    if node is None:
        return None
    if hasattr(node, "data"):
        if node.data == "literal" and len(node.children) == 1:
            token = node.children[0]
            try:
                if token.type in ("STRING_LIT", "MLSTRING_LIT"):
                    from celpy.evaluation import celstr
                    return ["literal", [["=", str(celstr(token))]]]
                if token.type == "INT_LIT":
                    from celpy import celtypes
                    return ["literal", [["=", int(celtypes.IntType(str(token)))]]]
            except (ValueError, TypeError):  # cel-python makes it an error value: left to it
                return ["literal", [[f"${token.type}", str(token)]]]
            if token.type == "BOOL_LIT":
                return ["literal", [["=", str(token) == "true"]]]
        return [str(node.data), [plain_tree(c) for c in node.children]]
    return [f"${node.type}", str(node)]


def compile_rule(tree: Any, matches: Callable[[str, str], bool]) -> Callable[[Any], bool] | None:
    """A function of `self` returning the rule's verdict (raising Fallback when unsure), or None
    when the rule uses something the compiler does not cover. `tree` is `plain_tree`'s form;
    `matches` is cel-python's own `matches()` (RE2), so regular expressions behave identically."""
    try:
        body = _Compiler(matches).expr(tree)
    except Unsupported:
        return None

    def run(value: Any) -> bool:
        if not _plain(value):
            raise Fallback  # cel-python's conversion of it may fail: it reports how
        result = body({"self": value})
        if result is True or result is False:
            return result
        if result is ERROR:
            # cel-python would give an error here, and for a macro over many failing items build
            # its message by nesting reprs, exponentially (a Gateway with 28 nameless listeners
            # needs gigabytes): the verdict is known, skip it as cel.CelRules does such errors.
            raise Skipped
        raise Fallback  # a non-boolean: cel-python gives the message

    return run


def _token(node: Any) -> str:
    if not (isinstance(node, list) and node[0].startswith("$")):
        raise Unsupported("a token was expected")
    return str(node[1])


class _Compiler:
    def __init__(self, matches: Callable[[str, str], bool]):
        self.matches = matches

    # -- the grammar's levels, each either a pass-through or an operator -----------------------
    def expr(self, t: Any) -> Closure:
        if not isinstance(t, list) or len(t) != 2 or not isinstance(t[1], list):
            raise Unsupported("not a node")
        data = t[0]
        method = getattr(self, f"_{data}", None)
        if method is None:
            raise Unsupported(data)
        return method(t)

    def _expr(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        cond, left, right = (self.expr(c) for c in t[1])

        def ternary(env: Env) -> Any:
            c = cond(env)
            if c is True:
                return left(env)
            if c is False:
                return right(env)
            raise Fallback

        return ternary

    def _conditionalor(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        a, b = (self.expr(c) for c in t[1])

        def or_(env: Env) -> Any:  # cel-python evaluates both sides (commutative ||)
            x, y = a(env), b(env)
            if (x is True or x is False or x is ERROR) and (y is True or y is False or y is ERROR):
                if x is True or y is True:
                    return True
                return False if x is False and y is False else ERROR
            raise Fallback

        return or_

    def _conditionaland(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        a, b = (self.expr(c) for c in t[1])

        def and_(env: Env) -> Any:  # cel-python evaluates both sides (commutative &&)
            x, y = a(env), b(env)
            if (x is True or x is False or x is ERROR) and (y is True or y is False or y is ERROR):
                if x is False or y is False:
                    return False
                return True if x is True and y is True else ERROR
            raise Fallback

        return and_

    def _relation(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        op_node, right_tree = t[1]
        left, right = self.expr(op_node[1][0]), self.expr(right_tree)
        op = op_node[0]
        if op == "relation_in":
            def in_(env: Env) -> Any:
                x, container = left(env), right(env)
                if x is ERROR or container is ERROR:
                    return ERROR
                if type(container) is list and type(x) is str and all(type(e) is str for e in container):
                    return x in container
                raise Fallback
            return in_
        if op in ("relation_eq", "relation_ne"):
            negate = op == "relation_ne"

            def eq(env: Env) -> Any:
                x, y = left(env), right(env)
                if x is ERROR or y is ERROR:
                    return ERROR
                if type(x) is type(y) and type(x) in (str, int, bool, timedelta):
                    return (x != y) if negate else (x == y)
                raise Fallback
            return eq
        compare = {"relation_lt": lambda x, y: x < y, "relation_le": lambda x, y: x <= y,
                   "relation_gt": lambda x, y: x > y, "relation_ge": lambda x, y: x >= y}.get(op)
        if compare is None:
            raise Unsupported(op)

        def order(env: Env) -> Any:
            x, y = left(env), right(env)
            if x is ERROR or y is ERROR:
                return ERROR
            if type(x) is type(y) and type(x) in (str, int, timedelta):
                return compare(x, y)
            raise Fallback
        return order

    def _addition(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        op_node, right_tree = t[1]
        if op_node[0] != "addition_add":
            raise Unsupported(op_node[0])
        left, right = self.expr(op_node[1][0]), self.expr(right_tree)

        def add(env: Env) -> Any:
            x, y = left(env), right(env)
            if x is ERROR or y is ERROR:
                return ERROR
            if type(x) is int and type(y) is int:  # ints of the value are int64 (_plain)
                total = x + y
                if INT64_MIN <= total <= INT64_MAX:
                    return total
            elif type(x) is str and type(y) is str:
                return x + y
            raise Fallback
        return add

    def _multiplication(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        raise Unsupported("multiplication")

    def _unary(self, t: Any) -> Closure:
        if len(t[1]) == 1:
            return self.expr(t[1][0])
        op, operand_tree = t[1]
        if op[0] != "unary_not":
            raise Unsupported(op[0])
        operand = self.expr(operand_tree)

        def not_(env: Env) -> Any:
            x = operand(env)
            if x is True:
                return False
            if x is False:
                return True
            if x is ERROR:
                return ERROR
            raise Fallback
        return not_

    def _member(self, t: Any) -> Closure:
        return self.expr(t[1][0])

    def _primary(self, t: Any) -> Closure:
        return self.expr(t[1][0])

    def _paren_expr(self, t: Any) -> Closure:
        return self.expr(t[1][0])

    # -- values ------------------------------------------------------------------------------
    def _literal(self, t: Any) -> Closure:
        kind, value = t[1][0]
        if kind != "=" or type(value) not in (str, int, bool):
            raise Unsupported(kind)  # null, float, uint and bytes literals
        return lambda env: value

    def _ident(self, t: Any) -> Closure:
        name = _token(t[1][0])
        if name in ("true", "false", "null"):  # parsed as literals; never reached, kept safe
            raise Unsupported(name)

        def variable(env: Env) -> Any:
            try:
                return env[name]
            except KeyError:
                raise Fallback from None  # an undeclared name: cel-python's error
        return variable

    def _list_lit(self, t: Any) -> Closure:
        items = [self.expr(c) for c in t[1][0][1]] if t[1] and t[1][0] is not None else []

        def list_(env: Env) -> Any:
            values = [f(env) for f in items]
            if any(v is ERROR for v in values):
                raise Fallback
            return values
        return list_

    def _map_lit(self, t: Any) -> Closure:
        if t[1] and t[1][0] is not None:
            raise Unsupported("map literal with entries")
        return lambda env: {}

    def _member_dot(self, t: Any) -> Closure:
        base, name = self.expr(t[1][0]), _token(t[1][1])

        def field(env: Env) -> Any:
            obj = base(env)
            if type(obj) is dict:
                return obj[name] if name in obj else ERROR
            if obj is ERROR:
                return ERROR
            raise Fallback
        return field

    def _member_index(self, t: Any) -> Closure:
        base, index = self.expr(t[1][0]), self.expr(t[1][1])

        def item(env: Env) -> Any:
            obj, i = base(env), index(env)
            if type(obj) is list and type(i) is int and 0 <= i < len(obj):
                return obj[i]
            if type(obj) is dict and type(i) is str:
                return obj[i] if i in obj else ERROR
            raise Fallback
        return item

    def _ident_arg(self, t: Any) -> Closure:
        name = _token(t[1][0])
        args = list(t[1][1][1]) if len(t[1]) > 1 and t[1][1] is not None else []
        if name == "has" and len(args) == 1:
            return self._has(args[0])
        if name == "size" and len(args) == 1:
            return _size(self.expr(args[0]))
        if name == "duration" and len(args) == 1:
            return _duration(self.expr(args[0]))
        raise Unsupported(name)

    def _has(self, arg: Any) -> Closure:
        node = _unwrap(arg)
        if node[0] != "member_dot":
            raise Unsupported("has() of something other than a field")
        base, name = self.expr(node[1][0]), _token(node[1][1])

        def has(env: Env) -> Any:
            obj = base(env)
            if type(obj) is dict:
                return name in obj
            if obj is ERROR:  # cel-python: the operand is an error, so has() is false
                return False
            raise Fallback
        return has

    def _member_dot_arg(self, t: Any) -> Closure:
        target_tree, name = t[1][0], _token(t[1][1])
        args = list(t[1][2][1]) if len(t[1]) > 2 and t[1][2] is not None else []
        target = self.expr(target_tree)
        if name in ("all", "exists", "exists_one", "filter") and len(args) == 2:
            variable = _unwrap(args[0])
            if variable[0] != "ident":
                raise Unsupported("macro variable")
            return _macro(name, target, _token(variable[1][0]), self.expr(args[1]))
        if name == "size" and not args:
            return _size(target)
        if name in ("contains", "startsWith", "endsWith", "matches") and len(args) == 1:
            return _string_method(name, target, self.expr(args[0]), self.matches)
        raise Unsupported(name)


def _plain(value: Any) -> bool:
    """Whether the value is plain JSON that cel-python converts without a word: strings,
    int64 ints, floats, booleans, null, lists, and maps with string keys."""
    t = type(value)
    if t is str or t is bool or t is float or value is None:
        return True
    if t is int:
        return INT64_MIN <= value <= INT64_MAX
    if t is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if t is list:
        return all(_plain(v) for v in value)
    return False


def _unwrap(t: Any) -> Any:
    """The node under the pass-through levels (expr → … → primary) of one operand."""
    while t[0] in ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
                     "unary", "member", "primary") and len(t[1]) == 1:
        t = t[1][0]
    return t


_SIMPLE_DURATION = re.compile(r"(?:[0-9]+(?:ns|us|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+)(ns|us|ms|s|m|h)")
_SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_MAX_SECONDS = 9_223_372_036  # cel.GO_MAX_DURATION_SECONDS: Go's time.Duration, whole seconds


def _duration(operand: Closure) -> Closure:
    """duration(s) for plain Go durations ("5s", "1h30m", "250ms"), computed as cel-python's
    DurationType computes them (a float sum of number × unit, then a timedelta, so the same
    microsecond rounding); signs, fractions, other units and anything near Go's range defer."""
    def duration(env: Env) -> Any:
        s = operand(env)
        if type(s) is not str or _SIMPLE_DURATION.fullmatch(s) is None:
            if s is ERROR:
                return ERROR
            raise Fallback
        seconds = math.fsum(float(n) * _SCALE[u] for n, u in _DURATION_PART.findall(s))
        if seconds >= _GO_MAX_SECONDS:
            raise Fallback
        return timedelta(seconds=seconds)
    return duration


def _size(operand: Closure) -> Closure:
    def size(env: Env) -> Any:
        x = operand(env)
        if type(x) in (str, list, dict):
            return len(x)
        if x is ERROR:
            return ERROR
        raise Fallback
    return size


def _string_method(name: str, target: Closure, argument: Closure, matches: Callable[[str, str], bool]) -> Closure:
    def method(env: Env) -> Any:
        s, arg = target(env), argument(env)
        if type(s) is not str or type(arg) is not str:
            if s is ERROR or arg is ERROR:
                return ERROR
            raise Fallback
        if name == "contains":
            return arg in s
        if name == "startsWith":
            return s.startswith(arg)
        if name == "endsWith":
            return s.endswith(arg)
        return matches(s, arg)  # raises on a pattern RE2 rejects: cel-python reports it
    return method


def _macro(name: str, target: Closure, variable: str, predicate: Closure) -> Closure:
    def macro(env: Env) -> Any:
        source = target(env)
        if type(source) is list:
            items = source
        elif type(source) is dict:
            items = list(source)  # macros over a map range over its keys
        elif source is ERROR:
            return ERROR
        else:
            raise Fallback
        inner = dict(env)
        results = []
        for item in items:  # cel-python evaluates the predicate for every item: so do we
            inner[variable] = item
            r = predicate(inner)
            if r is not True and r is not False and r is not ERROR:
                raise Fallback
            results.append(r)
        # cel-python folds all() with && and exists() with || from true / false: false (true)
        # absorbs errors, errors combine into an error; exists_one() stops at the first error.
        if name == "all":
            return False if False in results else ERROR if ERROR in results else True
        if name == "exists":
            return True if True in results else ERROR if ERROR in results else False
        if ERROR in results:
            if name == "exists_one":
                return ERROR
            raise Fallback
        if name == "exists_one":
            return results.count(True) == 1
        return [item for item, r in zip(items, results) if r]
    return macro
