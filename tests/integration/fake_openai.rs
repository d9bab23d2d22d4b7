//! The fake OpenAI-compatible server speaks the protocol real clients expect.

use std::time::Duration;

use async_openai::{
    Client, config::OpenAIConfig, error::OpenAIError, types::embeddings::CreateEmbeddingRequestArgs,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::openai::{FakeOpenAi, Fault, fake_embedding};

fn client(fake: &FakeOpenAi) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(fake.base_url())
            .with_api_key("test-key"),
    )
}

#[tokio::test]
async fn the_official_client_gets_embeddings_of_the_requested_size() {
    let fake = FakeOpenAi::start().await;

    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-v4")
        .input(vec![
            "员工手册 leave policy".to_owned(),
            "expense claims".to_owned(),
        ])
        .dimensions(384u32)
        .build()
        .unwrap();
    let response = client(&fake).embeddings().create(request).await.unwrap();

    assert_eq!(response.data.len(), 2);
    assert_eq!(response.data[0].embedding.len(), 384);
    assert_eq!(
        response.data[1].embedding,
        fake_embedding("expense claims", 384)
    );
    let recorded = fake.recorded();
    assert_eq!(recorded[0].path, "/embeddings");
    assert_eq!(recorded[0].body["dimensions"], 384);
}

#[tokio::test]
async fn more_than_ten_inputs_are_refused_as_model_studio_does() {
    let fake = FakeOpenAi::start().await;

    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-v4")
        .input((0..11).map(|i| format!("text {i}")).collect::<Vec<_>>())
        .build()
        .unwrap();
    let err = client(&fake)
        .embeddings()
        .create(request)
        .await
        .unwrap_err();

    let OpenAIError::ApiError(err) = err else {
        panic!("an API error, got {err:?}")
    };
    assert_eq!(err.status_code, 400);
    assert_eq!(err.api_error.code.as_deref(), Some("InvalidParameter"));
}

#[tokio::test]
async fn scripted_faults_come_in_order_then_service_resumes() {
    let fake = FakeOpenAi::start().await;
    fake.push_fault(Fault::Status {
        status: 429,
        code: "Throttling.RateQuota",
        retry_after: Some(2),
    });
    fake.push_fault(Fault::MalformedJson);
    fake.push_fault(Fault::WrongDimensions(3));
    let http = reqwest::Client::new();
    let url = format!("{}/embeddings", fake.base_url());
    let body = json!({ "model": "m", "input": ["x"], "dimensions": 8 });

    let throttled = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "2");
    let error: Value = throttled.json().await.unwrap();
    assert_eq!(error["error"]["code"], "Throttling.RateQuota");

    let malformed = http.post(&url).json(&body).send().await.unwrap();
    assert!(malformed.json::<Value>().await.is_err());

    let wrong: Value = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let fine: Value = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fine["data"][0]["embedding"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_throttled() {
    let fake = FakeOpenAi::start().await;
    fake.limit_concurrency(1);
    fake.delay_every_request(Duration::from_millis(300));
    let http = reqwest::Client::new();
    let url = format!("{}/embeddings", fake.base_url());
    let body = json!({ "model": "m", "input": "x" });

    let slow = tokio::spawn({
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        async move { http.post(&url).json(&body).send().await.unwrap().status() }
    });
    // Wait until the slow request is being served, then send another.
    while fake.max_in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let second = http.post(&url).json(&body).send().await.unwrap().status();

    assert_eq!(second, 429);
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(fake.throttled(), 1);
}

#[tokio::test]
async fn chat_streams_reasoning_content_deltas_and_a_usage_chunk() {
    let fake = FakeOpenAi::start().await;
    fake.set_reply("Leave is 20 days [1].");

    let text = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .json(&json!({
            "model": "qwen-plus",
            "messages": [{ "role": "user", "content": "How much leave?" }],
            "stream": true,
            "stream_options": { "include_usage": true },
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let events: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Leave is 20 days [1].");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
    );
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_cut_stream_ends_without_done() {
    let fake = FakeOpenAi::start().await;
    fake.set_reply("one two three four five");
    fake.push_fault(Fault::CutStream { after_deltas: 2 });

    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .json(&json!({ "model": "m", "messages": [], "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = String::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }

    assert!(
        failed,
        "the transport error reaches the client; received:\n{received}"
    );
    assert!(
        received.contains(r#""content":"one ""#) && received.contains(r#""content":"two ""#),
        "{received}"
    );
    assert!(
        !received.contains("three") && !received.contains("[DONE]"),
        "{received}"
    );
}

#[tokio::test]
async fn non_streaming_chat_answers_with_usage() {
    let fake = FakeOpenAi::start().await;

    let body: Value = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .json(&json!({ "model": "qwen-plus", "messages": [{ "role": "user", "content": "hi" }], "enable_thinking": false }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        body["choices"][0]["message"]["content"],
        "The answer is in the documents [1]."
    );
    assert_eq!(fake.recorded()[0].body["enable_thinking"], false);
}
