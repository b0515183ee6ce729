"""stub"""
from typing import Any

def register(sub: Any, add_data_dir_arg: Any) -> dict[str, Any]:
    return {}
