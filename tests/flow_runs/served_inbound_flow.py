"""A flow served as a deployment (`flow.serve`), the way a Prefect user runs one: each run gets
the inbound message as its `message` parameter and tags it in MultiMail with its own run id, so
the test can see that the run really happened and got the message. Run as a script by the
tests, with PREFECT_API_URL, MM_BASE and MM_KEY in the environment."""

import os

import requests
from prefect import flow
from prefect.runtime import flow_run


@flow(name="handle-inbound")
def handle_inbound(message: dict) -> str:
    requests.post(f"{os.environ['MM_BASE']}/v1/tag_email", timeout=10,
                  headers={"Authorization": f"Bearer {os.environ['MM_KEY']}"},
                  json={"message_id": message["message_id"], "tags": {"handled_by": flow_run.id}}).raise_for_status()
    return message["subject"]


if __name__ == "__main__":
    handle_inbound.serve(name="inbound", limit=4)
