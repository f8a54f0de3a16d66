"""The local runtime: the whole service from template.yaml, with no Docker and no AWS.

`template` reads the template; `apigateway` is API Gateway's REST proxy behaviour (routes,
the Lambda authorizer and its cache, gateway responses, proxy events); `lambdas` loads and
invokes functions in-process; `server` serves HTTP and the Lambda Invoke API; `__main__`
is `make run`.
"""
