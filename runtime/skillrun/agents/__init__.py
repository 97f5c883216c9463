"""What LLM agents drive: ``describe``, ``doctor``, the tool functions and the MCP server over them."""
