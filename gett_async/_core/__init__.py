"""The sans-I/O core: rules, wire types and arithmetic; imports no asyncio, aiohttp or backoff."""
