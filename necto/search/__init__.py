"""Finding entries: the filter language (parse once, compile to SQL for the store or to a Python
test for entries in memory), the text an entry is searched by, and GraphQL operation names.

    filterlang.py  the one parser: text -> Node tree, FilterError pointing at the token
    sqlfilter.py   Node -> SQL WHERE (FTS5 trigram index for text terms)
    predicate.py   Node -> test on an Entry (HAR files, live events)
    text.py        an entry's searchable text: request line, header lines, decoded bodies, frames
    graphql.py     the operation name of a GraphQL request
"""

from necto.search.filterlang import FilterError, Node, parse_filter

__all__ = ["FilterError", "Node", "parse_filter"]
