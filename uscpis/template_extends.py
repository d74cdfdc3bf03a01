"""``{% extends %}`` without walking the parent template's whole tree on every render.

Django's ``ExtendsNode.render`` collects the block nodes of a root parent template
(``base.html``) with ``nodelist.get_nodes_by_type(BlockNode)`` each time a page that extends
it is rendered: a recursive walk over every node of the layout (tens of microseconds per
page). A compiled template never changes once parsed (Django's cached loader shares it
between requests and threads on that premise), so the walk's result is kept on the compiled
parent itself: a template loaded afresh (no cached loader, or the cache reset after a
template changed) is a new object and is walked again.

Everything else is Django's: the tag parses as Django's (``do_extends``), the node is
Django's ``ExtendsNode`` (so ``isinstance`` checks still hold), and ``render`` is Django's
with the walk remembered. Installed as a template builtin (``TEMPLATES`` ``OPTIONS``
``builtins``), which replaces Django's ``extends`` tag for every template.
"""

from __future__ import annotations

from django import template
from django.template.base import TextNode
from django.template.loader_tags import (
    BLOCK_CONTEXT_KEY,
    BlockContext,
    BlockNode,
    ExtendsNode,
    do_extends,
)

register = template.Library()

_ROOT_BLOCKS = "_uscpis_root_blocks"  # attribute on the compiled parent Template


def root_blocks(compiled_parent) -> dict | None:
    """The block nodes ``ExtendsNode.render`` adds for ``compiled_parent`` (name -> node),
    or ``None`` when it adds none (the parent extends another template, or has only text)."""
    try:
        return compiled_parent.__dict__[_ROOT_BLOCKS]
    except KeyError:
        pass
    blocks = None
    for node in compiled_parent.nodelist:
        # The ExtendsNode has to be the first non-text node (as Django's render reads it).
        if not isinstance(node, TextNode):
            if not isinstance(node, ExtendsNode):
                blocks = {n.name: n for n in compiled_parent.nodelist.get_nodes_by_type(BlockNode)}
            break
    compiled_parent.__dict__[_ROOT_BLOCKS] = blocks
    return blocks


class RememberedBlocksExtendsNode(ExtendsNode):
    def render(self, context):
        # django.template.loader_tags.ExtendsNode.render, with root_blocks() for the walk.
        compiled_parent = self.get_parent(context)

        if BLOCK_CONTEXT_KEY not in context.render_context:
            context.render_context[BLOCK_CONTEXT_KEY] = BlockContext()
        block_context = context.render_context[BLOCK_CONTEXT_KEY]

        # Add the block nodes from this node to the block context
        block_context.add_blocks(self.blocks)

        # If this block's parent doesn't have an extends node it is the root,
        # and its block nodes also need to be added to the block context.
        blocks = root_blocks(compiled_parent)
        if blocks is not None:
            block_context.add_blocks(blocks)

        # Call Template._render explicitly so the parser context stays
        # the same.
        with context.render_context.push_state(compiled_parent, isolated_context=False):
            return compiled_parent._render(context)


@register.tag("extends")
def extends(parser, token):
    """Django's ``{% extends %}`` (same parsing and errors), rendered by
    ``RememberedBlocksExtendsNode``."""
    node = do_extends(parser, token)
    return RememberedBlocksExtendsNode(node.nodelist, node.parent_name, node.template_dirs)
