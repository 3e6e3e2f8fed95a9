"""Test only: look into the test S3 server's bucket from inside its container (boto3 comes with
moto). python bucket.py BUCKET create | list | get KEY | put KEY... | delete KEY
(put writes the one body on stdin under every KEY)"""

import sys

import boto3

client = boto3.client("s3", endpoint_url="http://127.0.0.1:5000")
bucket, command, *args = sys.argv[1:]
if command == "create":
    client.create_bucket(Bucket=bucket)
elif command == "list":
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            print(item["Key"])
elif command == "get":
    sys.stdout.buffer.write(client.get_object(Bucket=bucket, Key=args[0])["Body"].read())
elif command == "put":
    body = sys.stdin.buffer.read()
    for key in args:
        client.put_object(Bucket=bucket, Key=key, Body=body)
elif command == "delete":
    client.delete_object(Bucket=bucket, Key=args[0])
else:
    sys.exit(f"unknown command {command}")
