"""The HTTP API: routes, authorization, integration and throttling."""

from __future__ import annotations

from tests.infra import template_routes
from tests.infra.template import resources, sam_template

IAM = "AWS_IAM"
EXPECTED_ROUTES = {
    ("POST", "/tasks"): IAM,
    ("GET", "/tasks"): IAM,
    ("GET", "/tasks/{task_id}"): IAM,
    ("GET", "/tasks/{task_id}/events"): IAM,
    ("POST", "/tasks/{task_id}/cancel"): IAM,
    ("POST", "/tasks/{task_id}/steer"): IAM,
    ("POST", "/hooks/{hook_id}/rotate"): IAM,
    ("GET", "/hooks/{hook_id}"): "NONE",
    ("POST", "/hooks/{hook_id}/resolve"): "NONE",
    ("GET", "/openapi.json"): "NONE",
    ("POST", "/webhooks/{name}"): "NONE",
}


def test_routes_are_exactly_the_documented_ones() -> None:
    assert template_routes() == EXPECTED_ROUTES


def test_every_route_goes_to_the_api_function() -> None:
    template = sam_template()
    for name, route in resources(template, "AWS::ApiGatewayV2::Route").items():
        assert route["Properties"]["Target"] == {"Fn::Sub": "integrations/${ApiIntegration}"}, name
        assert route["Properties"]["ApiId"] == {"Ref": "Api"}, name
    integration = template["Resources"]["ApiIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    permission = template["Resources"]["ApiInvokePermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${Api}/*")


def test_default_route_throttling() -> None:
    stage = sam_template()["Resources"]["ApiStage"]["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }


def test_api_url_outputs() -> None:
    outputs = sam_template()["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": ["Api", "ApiEndpoint"]}
    assert outputs["HooksBaseUrl"]["Value"] == {"Fn::Sub": "${Api.ApiEndpoint}/hooks"}
    assert {"TurnQueueUrl", "CacheEndpoint"} <= set(outputs)
