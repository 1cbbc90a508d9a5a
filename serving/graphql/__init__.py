"""The GraphQL read layer (`/api/v1/graphql`): one round trip for what takes several REST calls.

Its answers are the REST routes' own: types derive from the same response models and table
columns, resolvers call the same loaders. See docs/architecture.md, "GraphQL".
"""
